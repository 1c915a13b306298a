"""`python -m microshop_ci.cluster`: see microshop_ci.cluster.cli."""

import sys

from microshop_ci.cluster.cli import main

sys.exit(main())
