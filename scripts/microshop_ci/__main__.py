"""`python -m microshop_ci SUBCOMMAND ...`: the `microshop` program (microshop_ci.cli)."""

import sys

from microshop_ci.cli import main

sys.exit(main())
