"""Entry point: `python -m microshop_ci.smoke`."""

import sys

from microshop_ci.smoke.cli import main

sys.exit(main())
