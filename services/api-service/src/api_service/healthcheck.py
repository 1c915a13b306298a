"""`python -m api_service.healthcheck`: exit 0 if GET /health answers 200 (stdlib only).

It speaks HTTP to 127.0.0.1 directly (http.client), so no URL, and no URL scheme, is involved.
"""

from __future__ import annotations

import http.client
import os
import sys


def main() -> int:
    """Ask the local server's /health; the port is PORT (default 8000)."""
    # The one place besides Settings that reads the environment: it must not need the secrets.
    port = os.environ.get("PORT", "8000")
    if not port.isdigit() or not 0 < int(port) < 65536:
        print(f"healthcheck: PORT={port!r} is not a number", file=sys.stderr)
        return 2
    connection = http.client.HTTPConnection("127.0.0.1", int(port), timeout=3)
    try:
        connection.request("GET", "/health")
        status = connection.getresponse().status
    except (http.client.HTTPException, OSError) as exc:
        print(f"healthcheck: http://127.0.0.1:{port}/health: {exc}", file=sys.stderr)
        return 1
    finally:
        connection.close()
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
