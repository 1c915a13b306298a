"""Fake system commands for the set-up tests: each records its call, PATH holds only them."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

Fake = Callable[[str, str], Path]


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    """The file every fake appends `NAME ARGS` to."""
    return tmp_path / "calls"


@pytest.fixture
def fake(tmp_path: Path, calls: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    """fake(NAME, BODY): a /bin/sh script NAME on a PATH of fakes only (no real command is
    reachable), which records `NAME ARGS` and then runs BODY."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("STATE", str(tmp_path))

    def make(name: str, body: str) -> Path:
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls}"\n{body}\n')
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
        return path

    return make


@pytest.fixture
def recorded(calls: Path) -> Callable[[], list[str]]:
    """The calls the fakes recorded so far, in order."""
    return lambda: calls.read_text().splitlines() if calls.exists() else []
