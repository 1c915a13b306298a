"""Entry point: `python -m microshop_ci.checks`."""

import sys

from microshop_ci.checks.cli import main

sys.exit(main())
