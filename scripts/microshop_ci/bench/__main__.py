"""`python -m microshop_ci.bench`: see run.main."""

import sys

from microshop_ci.bench.run import main

sys.exit(main())
