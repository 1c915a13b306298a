"""python -m microshop_ci.secrets: scripts/secrets."""

import sys

from microshop_ci.secrets.cli import main

sys.exit(main())
