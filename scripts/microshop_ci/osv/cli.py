"""`microshop osv-server`: serve an OSV export zip on loopback until interrupted."""

from __future__ import annotations

import argparse
from pathlib import Path

from microshop_ci.osv.db import OsvDatabase, default_zip
from microshop_ci.osv.server import make_server


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop osv-server [--zip FILE] [--port N]`."""
    parser.add_argument("--zip", type=Path, default=default_zip(), help="OSV export zip")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")


def run_command(args: argparse.Namespace) -> int:
    """Load the zip, print the URL, serve until Ctrl-C (a normal stop: exit 0)."""
    db = OsvDatabase.from_zip(args.zip)
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
