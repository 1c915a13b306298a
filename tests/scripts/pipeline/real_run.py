"""The real scripts/pipeline on a repository or a copy of it, and its report (shared by the tests
that run it whole, in the Docker group, and the gates-only ones, beside it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared"


@dataclass(frozen=True)
class Run:
    """A finished pipeline run: exit code, summary.json, summary.md and console output."""

    code: int
    report_dir: Path
    summary: dict[str, Any]
    markdown: str
    output: str

    def stage(self, name: str) -> dict[str, Any]:
        """The summary entry of one stage."""
        return next(s for s in self.summary["stages"] if s["name"] == name)


def pipeline(repo: Path, report_dir: Path, *args: str) -> Run:
    """Run repo's scripts/pipeline in plain mode and read its report."""
    proc = subprocess.run(
        [str(repo / "scripts" / "pipeline"), "--plain", "--report-dir", str(report_dir), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    summary = json.loads((report_dir / "summary.json").read_text())
    markdown = (report_dir / "summary.md").read_text()
    return Run(proc.returncode, report_dir, summary, markdown, proc.stdout + proc.stderr)


def copy_repo(dest: Path) -> Path:
    """Copy the files git knows (tracked, or new and not ignored) with ../shared beside them."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    repo = dest / "repo"
    for raw in filter(None, listed):
        source = REPO / raw.decode()
        if source.is_file():
            target = repo / raw.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    if SHARED.exists():
        (dest / "shared").symlink_to(SHARED)
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "copy of the repository")
    return repo


def git(repo: Path, *args: str) -> None:
    """Run git in repo with a fixed identity."""
    identity = ("-c", "user.name=pipeline test", "-c", "user.email=pipeline-test@example.com")
    subprocess.run(["git", "-C", str(repo), *identity, *args], check=True, capture_output=True)


def commit(repo: Path, message: str) -> None:
    """Commit everything in repo, as a developer would before the pipeline runs."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
