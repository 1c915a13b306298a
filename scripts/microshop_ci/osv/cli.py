"""`scripts/osv-server`: serve an OSV export zip on loopback until interrupted."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from microshop_ci.osv.db import OsvDatabase, OsvDataError, default_zip
from microshop_ci.osv.server import make_server


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, load the zip, print the URL, serve."""
    parser = argparse.ArgumentParser(prog="osv-server", description=__doc__)
    parser.add_argument("--zip", type=Path, default=default_zip(), help="OSV export zip")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    args = parser.parse_args(argv)
    try:
        db = OsvDatabase.from_zip(args.zip)
    except OsvDataError as err:
        print(f"osv-server: {err}", file=sys.stderr)
        return 2
    server = make_server(db, port=args.port)
    host, port = server.server_address[:2]
    print(f"http://{host!s}:{port}/v1/query ({len(db.by_id)} advisories)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
