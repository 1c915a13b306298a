"""`scripts/scan-images`: the image gates (Trivy vulnerability and secret scans) over every image
of an images file, by digest; the build stage's last step.

Usage: scripts/scan-images [--online|--offline] --images FILE [--report-dir DIR] [--result FILE]
--result writes the build stage's typed result (core.result.BuildResult): the images, with
their sizes, and the image gates' verdicts.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from microshop_ci.core.errors import MicroshopError, UsageError
from microshop_ci.core.images import read_images
from microshop_ci.core.paths import REPORTS_DIR
from microshop_ci.core.result import BuildResult, ImageSummary, write_result
from microshop_ci.gates import cli

USAGE = "usage: scripts/scan-images [--online|--offline] --images FILE --report-dir DIR"
IMAGE_GATES = ("trivy-vuln", "trivy-secret")


def parse(argv: Sequence[str]) -> tuple[str, Path, Path, Path | None]:
    """(mode, images file, report folder, result file); the mode defaults to --online."""
    mode, images, report_dir, result = "--online", None, REPORTS_DIR / "image-gates", None
    args = list(argv)
    while args:
        option = args.pop(0)
        if option in ("--online", "--offline"):
            mode = option
        elif option in ("--images", "--report-dir", "--result"):
            if not args:
                raise UsageError(f"{option} needs a value")
            value = Path(args.pop(0))
            if option == "--images":
                images = value
            elif option == "--report-dir":
                report_dir = value
            else:
                result = value
        else:
            raise UsageError(f"scripts/scan-images: unknown option '{option}'")
    if images is None:
        raise UsageError(USAGE)
    return mode, images, report_dir, result


def main(argv: Sequence[str] | None = None) -> int:
    """0 when both image gates pass on every image; 1 otherwise or on bad input."""
    try:
        mode, images_file, report_dir, result = parse(sys.argv[1:] if argv is None else argv)
        records = read_images(images_file)
    except MicroshopError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    refs = [record.ref for _, record in sorted(records.items())]
    print(
        f"[{datetime.now(UTC):%H:%M:%S}] scanning {len(refs)} images: {' '.join(refs)}",
        file=sys.stderr,
        flush=True,
    )
    argv_gates = [mode, "--report-dir", str(report_dir), "--only", *IMAGE_GATES, "--image", *refs]
    code, results = cli.execute(argv_gates)
    if result is not None:
        images = {s: ImageSummary(r.ref, r.size) for s, r in records.items()}
        write_result(result, BuildResult(images, cli.gate_summaries(results)))
    return code


if __name__ == "__main__":
    sys.exit(main())
