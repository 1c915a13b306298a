"""Container healthcheck without a shell: exit 0 when GET /health on this host answers 200.

Stdlib only, so it runs in a distroless image; it reads PORT (default 8080) like the server does.
It speaks HTTP to 127.0.0.1 directly (http.client), so no URL, and no URL scheme, is involved.
"""

from __future__ import annotations

import http.client
import os
import sys


def check(port: int, path: str = "/health", timeout: float = 3.0) -> bool:
    """True when GET path on 127.0.0.1:port answers 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except (http.client.HTTPException, OSError):
        return False
    finally:
        connection.close()


def main() -> int:
    """Exit status 0 when healthy, 1 otherwise (2 when PORT is not a port number)."""
    port = os.environ.get("PORT", "8080")
    if not port.isdigit() or not 0 < int(port) < 65536:
        print(f"healthcheck: PORT={port!r} is not a port number", file=sys.stderr)
        return 2
    return 0 if check(int(port)) else 1


if __name__ == "__main__":
    sys.exit(main())
