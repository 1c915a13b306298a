"""`microshop secrets`: the pinned OpenBao binary, its set-up, seeding, rotation and access checks.

The address and token come from BAO_ADDR and BAO_TOKEN (read by `bao` itself, never printed);
no secret value is ever printed. Any refusal is one line naming the path and the reason, exit 1.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from microshop_ci.secrets import store
from microshop_ci.secrets.bao import bao_binary
from microshop_ci.secrets.layout import SECRETS, SERVICES, secrets_of
from microshop_ci.secrets.rotate import DEFAULT_RETENTION, rotate, seed


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop secrets bao | setup | seed | rotate KIND | check SERVICE`."""
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("bao", help="print the path of the pinned bao binary (installs it)")
    commands.add_parser("setup", help="the KV v2 mount and the policies (audit must be on)")
    commands.add_parser("seed", help="write a first value of every secret that has none")
    rotation = commands.add_parser("rotate", help="write a new value of one secret")
    rotation.add_argument("kind", choices=sorted(SECRETS))
    rotation.add_argument(
        "--retention-minutes",
        type=int,
        default=int(DEFAULT_RETENTION.total_seconds() // 60),
        help="jwt: how long a replaced key stays in previous_keys",
    )
    check = commands.add_parser("check", help="read a service's secrets with the current token")
    check.add_argument("service", choices=SERVICES)


def run_command(args: argparse.Namespace) -> int:
    """Run one command; OpenBao's refusal or failure raises (one line, exit 1)."""
    if args.command == "bao":
        print(bao_binary())
    elif args.command == "setup":
        for line in store.setup():
            print(f"secrets: {line}")
    elif args.command == "seed":
        for done in seed():
            print(f"secrets: wrote {done.path} version {done.version} {done.note}".rstrip())
    elif args.command == "rotate":
        retention = timedelta(minutes=args.retention_minutes)
        done = rotate(args.kind, retention)
        print(f"secrets: rotated {done.path}: version {done.version} {done.note}".rstrip())
    else:
        for secret in secrets_of(args.service):
            stored = store.read(secret)
            state = f"version {stored.version}" if stored.version else "not written yet"
            print(f"secrets: {secret.path}: readable, {state}")
    return 0
