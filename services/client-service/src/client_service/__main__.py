"""`python -m client_service` runs the storefront."""

import sys

from client_service.cli import main

sys.exit(main())
