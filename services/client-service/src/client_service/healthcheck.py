"""Container healthcheck without a shell: exit 0 when GET /health on this host answers 200.

Stdlib only, so it runs in a distroless image; it reads PORT (default 8080) like the server does.
"""

from __future__ import annotations

import http.client
import os
import sys
import urllib.error
import urllib.request


def check(url: str, timeout: float = 3.0) -> bool:
    """True when url answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed http URL
            return int(response.status) == 200
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError):
        return False


def main() -> int:
    """Exit status 0 when healthy, 1 otherwise."""
    port = os.environ.get("PORT", "8080")
    return 0 if check(f"http://127.0.0.1:{port}/health") else 1


if __name__ == "__main__":
    sys.exit(main())
