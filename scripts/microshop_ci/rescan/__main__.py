"""Entry point: `python -m microshop_ci.rescan` (scripts/rescan)."""

import sys

from microshop_ci.rescan.cli import main

sys.exit(main())
