"""Component builds: the go command line, the writable copy, the cache and its failures.

`go` is a stand-in on PATH that records its arguments and environment and writes the binaries
where `-o` says: what is tested is our logic around the Go toolchain, not the toolchain.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from microshop_ci.core import gobuild
from microshop_ci.core.gobuild import BuildError, GoComponent
from tests.scripts.core.fake_go import install_fake_go

FAKE_GO = """#!/usr/bin/env bash
echo "$* | cwd=$PWD cgo=${CGO_ENABLED:-} goflags=$GOFLAGS gowork=$GOWORK extra=${EXTRA:-}" \\
  >> "$FAKE_GO_LOG"
case "$1" in
  mod) cat "$FAKE_GO_MOD" 2>/dev/null || { echo "no module" >&2; exit 1; } ;;
  build)
    test -w go.mod || { echo "go.mod is read-only" >&2; exit 1; }
    [[ -n "${FAKE_GO_FAIL:-}" ]] && { echo "compile error" >&2; exit 2; }
    while (($#)); do
      if [[ "$1" == -o ]]; then out="$2"; shift; fi
      shift
    done
    printf 'binary' > "${out}tool-a"; printf 'bin' > "${out}tool-b" ;;
esac
"""


@pytest.fixture
def go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in go first on PATH; returns its call log. The cache is in tmp_path."""
    return install_fake_go(tmp_path, monkeypatch, FAKE_GO, ("FAKE_GO_FAIL",))


def _source(tmp_path: Path) -> Path:
    """A read-only module folder, as the module cache keeps them."""
    source = tmp_path / "module"
    (source / "cmd").mkdir(parents=True)
    (source / "go.mod").write_text("module example.com/tool\n")
    (source / "cmd" / "main.go").write_text("package main\n")
    for path in (source / "cmd" / "main.go", source / "go.mod", source / "cmd", source):
        path.chmod(0o555 if path.is_dir() else 0o444)
    return source


def _component(source: Path, **kwargs: object) -> GoComponent:
    return GoComponent(
        "tool",
        "example.com/tool",
        "RUNC_VERSION",
        ("./cmd/a", "./cmd/b"),
        local_source=source,
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_component_is_built_once_from_a_writable_copy_into_the_cache(
    go: Path, tmp_path: Path
) -> None:
    prepared: list[tuple[str, str]] = []

    def prepare(work: Path, version: str) -> None:
        prepared.append((work.name, version))

    component = _component(
        _source(tmp_path),
        cgo=True,
        tags="seccomp",
        ldflags=lambda version: f"-X main.version={version}",
        prepare=prepare,
        env={"EXTRA": "1"},
    )
    out = gobuild.build(component)
    version = component.version
    assert out == tmp_path / "cache" / "cluster" / "tool" / version / "bin"
    assert sorted(p.name for p in out.iterdir()) == ["tool-a", "tool-b"]
    assert prepared == [("src", version)]
    calls = go.read_text().splitlines()
    assert len(calls) == 1
    argv, _, env = calls[0].partition(" | ")
    assert argv == (
        f"build -trimpath -ldflags -X main.version={version} -tags seccomp "
        f"-o {out.with_name('bin.partial')}/ ./cmd/a ./cmd/b"
    )
    assert env.split()[1:] == ["cgo=1", "goflags=-mod=mod", "gowork=off", "extra=1"]
    record = json.loads((out.parent / "build.json").read_text())
    assert record["bytes"] == {"tool-a": 6, "tool-b": 3}
    assert gobuild.build_seconds(component) == record["seconds"]
    assert (out.parent / "build.log").read_text().startswith("$ go build -trimpath")
    # Cached: a second build runs no go command at all.
    assert gobuild.build(component) == out
    assert len(go.read_text().splitlines()) == 1


def test_a_failed_build_names_the_component_and_its_log_and_caches_nothing(
    go: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_GO_FAIL", "1")
    component = _component(_source(tmp_path))
    with pytest.raises(BuildError) as caught:
        gobuild.build(component)
    folder = tmp_path / "cache" / "cluster" / "tool" / component.version
    log = re.escape(str(folder / "build.log"))
    assert re.fullmatch(
        rf"go build failed for /\S+/build-tool-\w+/src \(log: {log}\)", str(caught.value)
    )
    assert "compile error\n" in (folder / "build.log").read_text()
    assert gobuild.build_seconds(component) is None
    assert not (folder / "bin").exists()


def test_a_module_is_downloaded_through_the_proxy_and_its_folder_returned(
    go: Path, tmp_path: Path
) -> None:
    (tmp_path / "mod.json").write_text(json.dumps({"Path": "example.com/x", "Dir": "/mod/x@v1"}))
    log = tmp_path / "m.log"
    assert gobuild.module_dir("example.com/x", "v1.0.0", log) == Path("/mod/x@v1")
    assert go.read_text().split(" | ")[0] == "mod download -json example.com/x@v1.0.0"
    (tmp_path / "mod.json").write_text(json.dumps({"Error": "not found"}))
    with pytest.raises(BuildError) as caught:
        gobuild.module_dir("example.com/x", "v1.0.0", log)
    assert (
        str(caught.value) == f"go mod download example.com/x@v1.0.0: no module folder (log: {log})"
    )
    (tmp_path / "mod.json").unlink()
    with pytest.raises(BuildError) as caught:
        gobuild.module_dir("example.com/x", "v1.0.0", log)
    assert str(caught.value) == f"go mod failed for example.com/x@v1.0.0 (log: {log})"
    assert log.read_text().count("$ go mod download -json example.com/x@v1.0.0\n") == 3


def test_the_cache_root_follows_microshop_cache_then_xdg(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MICROSHOP_CACHE", str(tmp_path / "m"))
    assert gobuild.cache_root() == tmp_path / "m"
    monkeypatch.delenv("MICROSHOP_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert gobuild.cache_root() == tmp_path / "xdg" / "microshop"


def test_the_lock_file_is_created_with_its_folder(tmp_path: Path) -> None:
    lock = tmp_path / "deep" / "folder" / ".lock"
    with gobuild.locked(lock):
        assert lock.exists()
    assert stat.S_ISREG(lock.stat().st_mode)
