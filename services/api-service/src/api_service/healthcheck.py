"""`python -m api_service.healthcheck`: exit 0 if GET /health answers 200 (stdlib only)."""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    """Ask the local server's /health; the port is PORT (default 8000)."""
    # The one place besides Settings that reads the environment: it must not need the secrets.
    port = os.environ.get("PORT", "8000")
    if not port.isdigit():
        print(f"healthcheck: PORT={port!r} is not a number", file=sys.stderr)
        return 2
    url = f"http://127.0.0.1:{port}/health"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - fixed http URL
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
