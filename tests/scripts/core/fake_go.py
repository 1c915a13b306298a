"""A stand-in `go` on PATH for the Go build tests (core.gobuild, core.gotools)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest


def install_fake_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str, clear: Iterable[str]
) -> Path:
    """script as `go`, alone on PATH with the shell's tools, the cache in tmp_path; each name in
    clear unset; returns the file the stand-in logs its calls to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "go").write_text(script)
    (bin_dir / "go").chmod(0o755)
    log = tmp_path / "go-calls.log"
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_GO_LOG", str(log))
    monkeypatch.setenv("FAKE_GO_MOD", str(tmp_path / "mod.json"))
    monkeypatch.setenv("MICROSHOP_CACHE", str(tmp_path / "cache"))
    for name in clear:
        monkeypatch.delenv(name, raising=False)
    return log
