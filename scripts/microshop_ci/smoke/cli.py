"""`microshop smoke --images FILE [--json OUT]`: run the signed images and place one real order."""

from __future__ import annotations

import argparse
import json
import secrets
import signal
from pathlib import Path
from typing import Any

from microshop_ci.core.images import ImagesFileError, read_images
from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.result import SmokeResult, write_result
from microshop_ci.core.tools import ToolError
from microshop_ci.smoke.flow import QTY, STOCK, order_in_browser, seed_product, wait_for_api
from microshop_ci.smoke.stack import RUNTIME_UID, SERVICES, SmokeError, Stack


def load_images(path: Path) -> dict[str, str]:
    """service -> registry/name@sha256:... from the images file; refuses tags."""
    try:
        records = read_images(path, require=SERVICES)
    except ImagesFileError as exc:
        raise SmokeError(str(exc)) from exc
    return {name: records[name].ref for name in SERVICES}


def check_hardening(seen: dict[str, dict[str, Any]]) -> None:
    """Each container runs as the numeric non-root user with a read-only root filesystem."""
    for name, info in seen.items():
        if str(info["user"]).split(":")[0] != str(RUNTIME_UID):
            raise SmokeError(f"{name} runs as user {info['user']!r}, not {RUNTIME_UID}")
        if info["read_only"] is not True:
            raise SmokeError(f"{name} does not have a read-only root filesystem")


def run(repo: Path, images_file: Path, out_dir: Path) -> dict[str, Any]:
    """Start the stack, check it, order through the storefront, always tear it down."""
    stack = Stack(repo, images_file.resolve(), load_images(images_file))
    try:
        stack.up()
        wait_for_api()
        seen = stack.hardening()
        check_hardening(seen)
        admin_email = f"smoke-admin-{secrets.token_hex(4)}@example.com"
        password = stack.create_admin(admin_email)
        product_id = seed_product(admin_email, password)
        out_dir.mkdir(parents=True, exist_ok=True)
        order = order_in_browser(product_id, out_dir / "smoke-my-orders.png")
        if order.stock_after != STOCK - QTY:
            raise SmokeError(f"stock is {order.stock_after} after ordering, not {STOCK - QTY}")
    finally:
        stack.down()
    return {
        "headline": f"order placed in Chromium: {order.summary}; stock {STOCK} -> "
        f"{order.stock_after}; containers user {RUNTIME_UID}, read-only",
        "containers": seen,
        "product_id": product_id,
        "screenshot": str(order.screenshot),
    }


def _stop(signum: int, frame: object) -> None:
    raise SmokeError(f"stopped by signal {signum}")


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop smoke --images FILE [--json OUT] [--result FILE]`."""
    parser.add_argument("--images", type=Path, required=True, help="images file (build stage)")
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT)
    parser.add_argument("--result", type=Path, default=None,
                        help="write the stage's typed result (core.result) here")  # fmt: skip


def run_command(args: argparse.Namespace) -> int:
    """Run the smoke test; a failure is written to --json/--result, then raised."""
    # The pipeline stops a step with SIGTERM: turn it into an error so the stack is torn down.
    signal.signal(signal.SIGTERM, _stop)
    out_dir = (args.json.parent if args.json else args.repo / "reports" / "pipeline").resolve()
    try:
        result = run(args.repo.resolve(), args.images, out_dir)
    except (SmokeError, ToolError) as exc:
        if args.json:
            args.json.write_text(json.dumps({"headline": f"failed: {exc}"}, indent=2) + "\n")
        if args.result:
            write_result(args.result, SmokeResult(order_placed=False, summary=f"failed: {exc}"))
        raise
    print(result["headline"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.result:
        write_result(args.result, SmokeResult(order_placed=True, summary=result["headline"]))
    return 0
