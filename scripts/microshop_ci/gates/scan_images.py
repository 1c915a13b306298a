"""`scripts/scan-images`: the image gates (Trivy vulnerability and secret scans) over every image
of an images file, by digest; the build stage's last step.

Usage: scripts/scan-images [--online|--offline] --images FILE [--report-dir DIR] [--result FILE]
--result writes the build stage's typed result (core.result.BuildResult): the images, with
their sizes, and the image gates' verdicts.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from microshop_ci.core.args import parse_with
from microshop_ci.core.images import read_images
from microshop_ci.core.paths import REPORTS_DIR
from microshop_ci.core.result import BuildResult, ImageSummary, write_result
from microshop_ci.gates import cli

IMAGE_GATES = ("trivy-vuln", "trivy-secret")


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop scan-images [--online|--offline] --images FILE [--report-dir DIR]`."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--online", dest="mode", action="store_const", const="--online")
    mode.add_argument("--offline", dest="mode", action="store_const", const="--offline")
    parser.set_defaults(mode="--online")
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--report-dir", type=Path, default=REPORTS_DIR / "image-gates")
    parser.add_argument("--result", type=Path, default=None)


def run_command(args: argparse.Namespace) -> int:
    """0 when both image gates pass on every image; 1 otherwise."""
    records = read_images(args.images)
    refs = [record.ref for _, record in sorted(records.items())]
    print(
        f"[{datetime.now(UTC):%H:%M:%S}] scanning {len(refs)} images: {' '.join(refs)}",
        file=sys.stderr,
        flush=True,
    )
    gates = [args.mode, "--report-dir", str(args.report_dir), "--only", *IMAGE_GATES]
    code, results = cli.execute(
        parse_with(cli.configure, "microshop gates", [*gates, "--image", *refs])
    )
    if args.result is not None:
        images = {s: ImageSummary(r.ref, r.size) for s, r in records.items()}
        write_result(args.result, BuildResult(images, cli.gate_summaries(results)))
    return code
