"""Entry point: `python -m microshop_ci.sign` (scripts/supply-chain)."""

import sys

from microshop_ci.sign.cli import main

sys.exit(main())
