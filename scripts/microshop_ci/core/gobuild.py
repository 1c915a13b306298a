"""Build Go commands from a pinned upstream module into the user cache, once per version.

Each component is built inside a writable copy of its module (downloaded through the Go module
proxy), so modules whose go.mod has replace directives build too, with `-trimpath` and the flags
upstream's release builds use. Binaries land in CACHE/cluster/NAME/VERSION/bin, keyed by tool and
version like scripts/tool's, so a fresh clone reuses them and a fresh machine rebuilds them.
The go runner, the module download and the writable copy are shared with core.gotools.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from microshop_ci.core.cache import cache_root, locked
from microshop_ci.core.errors import BuildError
from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.pins import pin

# The cluster builds resolve every module from go.mod alone (no vendor folder, no workspace).
MODULE_ENV: Mapping[str, str] = {"GOFLAGS": "-mod=mod", "GOWORK": "off"}


@dataclass(frozen=True)
class GoComponent:
    """Go commands built from one pinned module (or from a module folder in this repository)."""

    name: str
    module: str
    pin_key: str
    packages: tuple[str, ...]
    cgo: bool = False
    tags: str = ""
    ldflags: Callable[[str], str] = lambda _version: "-s -w"
    prepare: Callable[[Path, str], None] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    local_source: Path | None = None  # a wrapper module of ours, e.g. scripts/cluster-src/etcd

    @property
    def version(self) -> str:
        """The pinned version."""
        return pin(self.pin_key)

    @property
    def out_dir(self) -> Path:
        """Where the binaries go: CACHE/cluster/NAME/VERSION/bin."""
        return cache_root() / "cluster" / self.name / self.version / "bin"

    def binary(self, command: str) -> Path:
        """The path of one built command."""
        return self.out_dir / command


def module_dir(
    module: str, version: str, log: Path | None, env: Mapping[str, str] = MODULE_ENV
) -> Path:
    """Download module@version through the module proxy and return its read-only folder."""
    result = go(["mod", "download", "-json", f"{module}@{version}"], cwd=None, env=env, log=log)
    try:
        return Path(json.loads(result)["Dir"])
    except (KeyError, json.JSONDecodeError):
        raise BuildError(
            f"go mod download {module}@{version}: no module folder{_where(log)}"
        ) from None


def go(args: list[str], *, cwd: Path | None, env: Mapping[str, str], log: Path | None) -> str:
    """Run `go ARGS` with env over this process's environment; return its stdout.

    Its stderr is appended to log after a `$ go ...` line, or (log None) is this process's
    stderr, as scripts/tool shows it. A failure raises BuildError naming the command.
    """
    with log.open("a") if log else nullcontext() as out:
        if out:
            out.write(f"$ go {' '.join(args)}\n")
            out.flush()
        result = subprocess.run(  # nosec B603, B607 -- the Go toolchain, argv list
            ["go", *args],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise BuildError(f"go {args[0]} failed for {cwd or args[-1]}{_where(log)}")
    return result.stdout


def _where(log: Path | None) -> str:
    return f" (log: {log})" if log else ""


def writable_copy(source: Path, work: Path) -> None:
    """Copy a module folder (read-only in Go's module cache) to work, made writable by its owner;
    symbolic links are copied as links."""
    shutil.copytree(source, work, symlinks=True, dirs_exist_ok=True)
    for path in [work, *work.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)


def build(component: GoComponent) -> Path:
    """Build the component unless its binaries are cached; return its bin folder."""
    out = component.out_dir
    done = out.parent / "build.json"
    if done.exists():
        return out
    with locked(out.parent / ".lock"):
        if done.exists():
            return out
        log = out.parent / "build.log"
        log.write_text("")
        start = time.monotonic()
        source = component.local_source or module_dir(component.module, component.version, log)
        with tempfile.TemporaryDirectory(prefix=f"build-{component.name}-") as tmp:
            work = Path(tmp) / "src"
            writable_copy(source, work)
            if component.prepare:
                component.prepare(work, component.version)
            staging = out.with_name("bin.partial")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            args = ["build", "-trimpath", "-ldflags", component.ldflags(component.version)]
            if component.tags:
                args += ["-tags", component.tags]
            env = {**MODULE_ENV, "CGO_ENABLED": "1" if component.cgo else "0", **component.env}
            go([*args, "-o", f"{staging}/", *component.packages], cwd=work, env=env, log=log)
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
        seconds = round(time.monotonic() - start)
        sizes = {p.name: p.stat().st_size for p in sorted(out.iterdir())}
        done.write_text(json.dumps({"seconds": seconds, "bytes": sizes}, indent=2) + "\n")
    return out


def build_seconds(component: GoComponent) -> int | None:
    """How long the cached build took, for the docs and the bring-up summary."""
    done = component.out_dir.parent / "build.json"
    return int(json.loads(done.read_text())["seconds"]) if done.exists() else None


__all__ = [
    "REPO_ROOT",
    "BuildError",
    "GoComponent",
    "build",
    "build_seconds",
    "cache_root",
    "locked",
]
