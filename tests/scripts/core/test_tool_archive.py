"""Built tools carried between jobs (scripts/tool-archive): only pinned builds, executable."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from microshop_ci.cli import main as microshop
from microshop_ci.core import gotools, tool_archive
from microshop_ci.core.errors import ToolError
from tests.conftest import REPO_ROOT


def pinned_folder(name: str) -> str:
    tool = gotools.lookup(name)
    return gotools.binary_path(tool, gotools.version_of(tool)).parent.name


def fake_build(cache: Path, name: str, content: bytes) -> Path:
    """A 'built' tool where gotools.ensure finds it in that cache."""
    binary = cache / "tools" / name / pinned_folder(name) / name
    binary.parent.mkdir(parents=True, exist_ok=True)
    binary.write_bytes(content)
    binary.chmod(0o755)
    return binary


def use_cache(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    monkeypatch.setenv("MICROSHOP_CACHE", str(cache))


def test_the_receiving_job_gets_the_same_binaries_executable_in_its_tool_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_cache(monkeypatch, tmp_path / "build-job")
    fake_build(tmp_path / "build-job", "crane", b"crane binary")
    fake_build(tmp_path / "build-job", "cosign", b"cosign binary")
    archive = tmp_path / "reports" / "release-tools.tar"
    assert microshop(["tool-archive", "pack", str(archive), "crane", "cosign"]) == 0
    packed = capsys.readouterr().out
    use_cache(monkeypatch, tmp_path / "sign-job")
    assert microshop(["tool-archive", "unpack", str(archive)]) == 0
    assert capsys.readouterr().out == packed
    crane_sha = hashlib.sha256(b"crane binary").hexdigest()
    assert packed.splitlines()[0] == f"crane {pinned_folder('crane')} sha256:{crane_sha}"
    for name in ("crane", "cosign"):
        binary = gotools.binary_path(gotools.lookup(name), gotools.version_of(gotools.lookup(name)))
        assert binary.is_relative_to(tmp_path / "sign-job")
        assert binary.read_bytes() == f"{name} binary".encode()
        assert binary.stat().st_mode & 0o777 == 0o755
        assert gotools.ensure(name) == binary  # found: nothing is built


def test_an_identical_binary_stays_and_a_different_one_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_cache(monkeypatch, tmp_path / "a")
    fake_build(tmp_path / "a", "crane", b"crane v1")
    fake_build(tmp_path / "a", "syft", b"syft v1")
    archive = tmp_path / "t.tar"
    tool_archive.pack(archive, ["crane", "syft"])
    use_cache(monkeypatch, tmp_path / "b")
    same = fake_build(tmp_path / "b", "crane", b"crane v1")
    other = fake_build(tmp_path / "b", "syft", b"something else")
    inode = same.stat().st_ino
    tool_archive.unpack(archive)
    assert same.stat().st_ino == inode
    assert other.read_bytes() == b"syft v1"
    assert sorted(p.name for p in other.parent.iterdir()) == ["syft"]  # no partial file left


def test_two_jobs_unpacking_into_one_tool_cache_at_once_both_succeed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two matrix legs on one machine: the second unpack runs whole while the first one checks
    # the file it just wrote (each writes its own partial file, neither removes the other's)
    use_cache(monkeypatch, tmp_path / "build-job")
    fake_build(tmp_path / "build-job", "cosign", b"cosign binary")
    archive = tmp_path / "t.tar"
    tool_archive.pack(archive, ["cosign"])
    use_cache(monkeypatch, tmp_path / "shared")
    binary = fake_build(tmp_path / "shared", "cosign", b"cosign binary")
    original = tool_archive._sha256
    started: list[bool] = []
    second: list[list[tool_archive.Carried]] = []

    def interleaved(path: Path) -> str:
        if not started:
            started.append(True)
            second.append(tool_archive.unpack(archive))
        return original(path)

    monkeypatch.setattr(tool_archive, "_sha256", interleaved)
    first = tool_archive.unpack(archive)
    assert first == second[0]
    assert len(first) == 1
    assert binary.read_bytes() == b"cosign binary"
    assert sorted(p.name for p in binary.parent.iterdir()) == ["cosign"]  # no partial file left


def archive_with(tmp_path: Path, name: str, kind: bytes = tarfile.REGTYPE) -> Path:
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo(name)
        info.type = kind
        data = b"#!/bin/sh\necho hijacked\n"
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return archive


@pytest.mark.parametrize(
    ("member", "kind"),
    [
        ("crane/v0.0.1/crane", tarfile.REGTYPE),  # not the pinned version
        ("curl/v8/curl", tarfile.REGTYPE),  # not a pinned tool
        ("../../bin/crane", tarfile.REGTYPE),
        ("/usr/local/bin/crane", tarfile.REGTYPE),
        ("crane/PINNED/cosign", tarfile.REGTYPE),  # another tool's name inside
        ("crane/PINNED/crane", tarfile.SYMTYPE),
    ],
)
def test_anything_but_the_pinned_build_of_a_known_tool_is_refused_and_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, member: str, kind: bytes
) -> None:
    use_cache(monkeypatch, tmp_path / "cache")
    archive = archive_with(tmp_path, member.replace("PINNED", pinned_folder("crane")), kind)
    with pytest.raises(ToolError, match=r"^refusing '.*': not the pinned build of a known tool"):
        tool_archive.unpack(archive)
    assert not (tmp_path / "cache").exists()


def test_a_bad_archive_and_bad_usage_are_one_line_each(tmp_path: Path) -> None:
    missing = tmp_path / "none.tar"
    script = str(REPO_ROOT / "scripts" / "tool-archive")
    env = {**os.environ, "MICROSHOP_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(
        [script, "unpack", str(missing)], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {missing}: cannot read the tool archive (")
    assert result.stderr.count("\n") == 1
    usage = subprocess.run([script, "pack"], capture_output=True, text=True, env=env, check=False)
    assert usage.returncode == 2
    assert usage.stderr == (
        "error: microshop tool-archive pack: the following arguments are required: archive, NAME "
        "(see microshop tool-archive pack --help)\n"
    )
    unknown = subprocess.run(
        [script, "pack", str(tmp_path / "t.tar"), "curl"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert unknown.returncode == 1
    assert unknown.stderr.startswith("error: unknown tool 'curl' (known: ferretdb cosign")
