"""Entry point: `python -m microshop_ci.pipeline`."""

import sys

from microshop_ci.pipeline.cli import main

sys.exit(main())
