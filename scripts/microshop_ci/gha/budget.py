"""A job's own time and disk budget, measured on its runner (scripts/job-budget).

    scripts/job-budget mark LABEL      append one mark: the time, the root file system's use and
                                       the size of the caches the job fills
    scripts/job-budget report --out F  a last mark (`end`), then a Markdown table of every mark
                                       (for scripts/step-summary: the job summary)

Marks go to reports/job-budget.jsonl (--log). The figures are what the runner itself reported at
each mark (statvfs of /, the caches' allocated blocks), not an estimate; what happens between two
marks (a peak inside a step) is not seen. Docker's images live on / and count in its use.
Standard library only, so a mark costs no environment.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from microshop_ci.core.cache import cache_root

LOG = Path("reports") / "job-budget.jsonl"


@dataclass(frozen=True)
class Mark:
    """The runner at one point of the job."""

    label: str
    at: float  # seconds since the epoch
    disk_total: int
    disk_used: int
    disk_free: int
    sizes: dict[str, int]  # watched folder -> bytes allocated


def watched(env: Mapping[str, str]) -> dict[str, Path]:
    """The folders the kind job fills: our cache, Go's module and build caches."""
    home = Path(env.get("HOME", str(Path.home())))
    return {
        "microshop cache": cache_root(),
        "Go module cache": Path(env.get("GOMODCACHE") or home / "go" / "pkg" / "mod"),
        "Go build cache": Path(env.get("GOCACHE") or home / ".cache" / "go-build"),
    }


def allocated(folder: Path) -> int:
    """Bytes allocated to the files below folder (as du counts them); 0 when it is absent."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:  # removed meanwhile
                continue
    return total


def measure(label: str, env: Mapping[str, str], root: Path = Path("/")) -> Mark:
    """One mark, now."""
    disk = shutil.disk_usage(root)
    sizes = {name: allocated(path) for name, path in watched(env).items()}
    return Mark(label, time.time(), disk.total, disk.used, disk.free, sizes)


def append(log: Path, mark: Mark) -> None:
    """Add a mark to the log (one JSON object per line)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(json.dumps(asdict(mark)) + "\n")


def read(log: Path) -> list[Mark]:
    """Every mark of the log, in order."""
    return [Mark(**json.loads(line)) for line in log.read_text().splitlines() if line.strip()]


def gb(size: int) -> str:
    """Bytes as decimal GB with one decimal (GitHub states runner disks in GB)."""
    return f"{size / 1e9:.1f} GB"


def duration(seconds: float) -> str:
    """`12 min 5 s`, or `40 s` under a minute."""
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"


def render(title: str, marks: Sequence[Mark]) -> str:
    """The job summary's table: one row per mark, then the totals."""
    names = list(marks[0].sizes)
    head = ["mark", "since first mark", "since previous", "/ used", "/ free", *names]
    lines = [
        f"## {title}",
        "",
        "Measured by the job on its runner at each mark (scripts/job-budget); `/ used` includes "
        "Docker's images. A peak between two marks is not seen.",
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(head) - 1),
    ]
    for i, mark in enumerate(marks):
        previous = duration(mark.at - marks[i - 1].at) if i else "-"
        cells = [mark.label, duration(mark.at - marks[0].at), previous, gb(mark.disk_used),
                 gb(mark.disk_free), *(gb(mark.sizes.get(n, 0)) for n in names)]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    peak = max(marks, key=lambda m: m.disk_used)
    least = min(marks, key=lambda m: m.disk_free)
    lines += [
        "",
        f"Time from the first to the last mark: {duration(marks[-1].at - marks[0].at)}. "
        f"Disk of /: {gb(marks[0].disk_total)}; most used {gb(peak.disk_used)} (at "
        f"`{peak.label}`), least free {gb(least.disk_free)} (at `{least.label}`).",
        "",
    ]
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    """mark LABEL | report --out FILE [--title T]; --log FILE for both."""
    parser.add_argument("--log", type=Path, default=LOG)
    sub = parser.add_subparsers(dest="command", required=True)
    mark = sub.add_parser("mark")
    mark.add_argument("label")
    report = sub.add_parser("report")
    report.add_argument("--out", type=Path, required=True)
    report.add_argument("--title", default="Time and disk of this job")


def run_command(args: argparse.Namespace) -> int:
    """Record a mark (the report's last one is `end`) and write the report when asked."""
    label = args.label if args.command == "mark" else "end"
    append(args.log, measure(label, os.environ))
    if args.command == "report":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(render(args.title, read(args.log)))
    print(f"job-budget: {label} ({args.log})")
    return 0
