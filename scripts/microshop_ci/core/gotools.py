"""The pinned Go tools (`scripts/tool`): each built once per machine from its upstream module.

Usage: scripts/tool NAME        build if missing, print the binary's path
       scripts/tool --all       build every tool
       scripts/tool --list      print NAME VERSION for every tool
       scripts/tool --ensure NAME...  build those if missing, print NAME PATH each
                                (scripts/ensure-tools; .github/actions/setup-tools);
                                `--ensure all`: every tool

Binaries are cached outside the clone, keyed by tool and version:
  ${MICROSHOP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/microshop}/tools/NAME/VERSION/NAME
(VERSION+FIX for a tool built with a fix of ours: see GoTool.fix)
so a fresh clone on the same machine reuses them and a fresh machine rebuilds them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from microshop_ci.core.cache import cache_root, locked
from microshop_ci.core.errors import ToolError
from microshop_ci.core.gobuild import BuildError, go, module_dir, writable_copy
from microshop_ci.core.paths import SCRIPTS_DIR
from microshop_ci.core.pins import pin

PREFIX = "scripts/tool"


@dataclass(frozen=True)
class GoTool:
    """One pinned tool: `go install PACKAGE@VERSION`, or, with module, `go build PACKAGE` inside a
    writable copy of MODULE@VERSION (for a go.mod with replace directives, or a module whose
    version list the proxy refuses)."""

    name: str
    pin_key: str
    package: str
    module: str = ""
    ldflags: Callable[[str], str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    prepare: Callable[[Path, str], None] | None = None
    # A tool built with a fix of ours gets its own cache folder, so a binary built without the
    # fix (same upstream version) is never reused.
    fix: str = ""


def _ferretdb_version_file(work: Path, version: str) -> None:
    """Without build/version/version.txt the binary panics at start."""
    (work / "build" / "version" / "version.txt").write_text(f"{version}\n")


def _act_drain_fix(work: Path, _version: str) -> None:
    """microshop_ci.gha.act_output: a failing self-hosted step's last output lines are kept (it
    refuses a source without the expected lines)."""
    argv = [sys.executable, "-m", "microshop_ci", "act-output", str(work)]
    result = subprocess.run(  # nosec B603 -- this interpreter, argv list
        argv, cwd=work, env={**os.environ, "PYTHONPATH": str(SCRIPTS_DIR)}, check=False
    )
    if result.returncode != 0:
        raise BuildError(f"microshop act-output failed (exit {result.returncode})")


def _v_stripped(flag: str) -> Callable[[str], str]:
    return lambda version: f"-X {flag}={version.removeprefix('v')}"


def _plain(flag: str) -> Callable[[str], str]:
    return lambda version: f"-X {flag}={version}"


TOOLS: tuple[GoTool, ...] = (
    GoTool(
        "ferretdb",
        "FERRETDB_VERSION",
        "./cmd/ferretdb",
        module="github.com/FerretDB/FerretDB",
        prepare=_ferretdb_version_file,
    ),
    GoTool(
        "cosign",
        "COSIGN_VERSION",
        "github.com/sigstore/cosign/v3/cmd/cosign",
        ldflags=_plain("sigs.k8s.io/release-utils/version.gitVersion"),
    ),
    GoTool(
        "kyverno",
        "KYVERNO_VERSION",
        "./cmd/cli/kubectl-kyverno",
        module="github.com/kyverno/kyverno",
        ldflags=_plain("github.com/kyverno/kyverno/pkg/version.BuildVersion"),
    ),
    GoTool("kind", "KIND_VERSION", "sigs.k8s.io/kind"),
    GoTool("crane", "CRANE_VERSION", "github.com/google/go-containerregistry/cmd/crane"),
    GoTool("registry", "REGISTRY_VERSION", "github.com/distribution/distribution/v3/cmd/registry"),
    GoTool("kubeconform", "KUBECONFORM_VERSION", "github.com/yannh/kubeconform/cmd/kubeconform"),
    # golang.stackrox.io answers 403 through the module proxy; the same module is served under its
    # GitHub path, whose go.mod names the vanity path, so it is built inside a copy (as kyverno).
    GoTool(
        "kube-linter",
        "KUBE_LINTER_VERSION",
        "./cmd/kube-linter",
        module="github.com/stackrox/kube-linter",
        ldflags=_v_stripped("golang.stackrox.io/kube-linter/internal/version.version"),
    ),
    GoTool("actionlint", "ACTIONLINT_VERSION", "github.com/rhysd/actionlint/cmd/actionlint"),
    GoTool("syft", "SYFT_VERSION", "github.com/anchore/syft/cmd/syft"),
    # go install reads trivy's @v/list for a deprecation check, which the module proxy refuses
    # (403); the version itself downloads, so it is built inside a copy of the module (as kyverno).
    GoTool(
        "trivy",
        "TRIVY_VERSION",
        "./cmd/trivy",
        module="github.com/aquasecurity/trivy",
        ldflags=_v_stripped("github.com/aquasecurity/trivy/pkg/version/app.ver"),
        env={"GOEXPERIMENT": "jsonv2"},
    ),
    # Istio's tags carry no "v"; the module proxy reachable here serves no build of a release tag,
    # so the pin is an exact commit's pseudo-version (see ISTIOCTL_VERSION in tool-versions.env).
    GoTool(
        "istioctl",
        "ISTIOCTL_VERSION",
        "./istioctl/cmd/istioctl",
        module="istio.io/istio",
        ldflags=lambda v: (
            f"-X istio.io/istio/pkg/version.buildVersion={v}"
            " -X istio.io/istio/pkg/version.buildStatus=Clean"
        ),
    ),
    GoTool("kustomize", "KUSTOMIZE_VERSION", "sigs.k8s.io/kustomize/kustomize/v5"),
    GoTool("helm", "HELM_VERSION", "helm.sh/helm/v4/cmd/helm"),
    # the workflow runner that tests/workflows/test_act.py runs the workflow files with, built
    # inside a copy with one fix (microshop_ci/gha/act_output.py says why)
    GoTool(
        "act",
        "ACT_VERSION",
        ".",
        module="github.com/nektos/act",
        prepare=_act_drain_fix,
        fix="+drain-failed-output",
    ),
)
BY_NAME = {tool.name: tool for tool in TOOLS}


def lookup(name: str) -> GoTool:
    """The tool of that name; ToolError listing the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ToolError(f"unknown tool '{name}' (known: {' '.join(BY_NAME)})") from None


def version_of(tool: GoTool) -> str:
    """Its pinned version (scripts/tool-versions.env)."""
    return pin(tool.pin_key)


def binary_path(tool: GoTool, version: str) -> Path:
    """CACHE/tools/NAME/VERSION[+FIX]/NAME."""
    return cache_root() / "tools" / tool.name / f"{version}{tool.fix}" / tool.name


def go_command(tool: GoTool, version: str, out: Path) -> tuple[list[str], dict[str, str]]:
    """The go command line and the environment it adds that build tool into out: `go install`
    into a private GOBIN (out is then that folder), or `go build` in the module's copy."""
    flags = ["-ldflags", tool.ldflags(version)] if tool.ldflags else []
    if tool.module:
        args = ["build", "-trimpath", *flags, "-o", str(out), tool.package]
        return args, {**tool.env, "CGO_ENABLED": "0"}
    args = ["install", *flags, f"{tool.package}@{version}"]
    return args, {**tool.env, "CGO_ENABLED": "0", "GOBIN": str(out), "GOFLAGS": "-trimpath"}


def build(tool: GoTool, version: str, out: Path) -> None:
    """Build the tool into out (an absolute path); go's output goes to stderr. BuildError."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if not tool.module:
            args, env = go_command(tool, version, work)
            go(args, cwd=None, env=env, log=None)
            built = list(work.iterdir())
            if len(built) != 1:
                raise BuildError(f"go install left {len(built)} files, not 1")
            shutil.move(built[0], out)
            return
        source = module_dir(tool.module, version, None, tool.env)
        writable_copy(source, work)
        if tool.prepare:
            tool.prepare(work, version)
        args, env = go_command(tool, version, out)
        go(args, cwd=work, env=env, log=None)


def ensure(name: str) -> Path:
    """The path of the tool's binary, built first if the cache has none (under the folder's lock:
    another process building it is waited for). ToolError for an unknown tool, a missing Go or a
    failed build."""
    tool = lookup(name)
    version = version_of(tool)
    binary = binary_path(tool, version)
    if _executable(binary):
        return binary
    with locked(binary.parent / ".lock"):
        if not _executable(binary):
            _say(f"building {name} {version} (once per machine)...")
            start = time.monotonic()
            if shutil.which("go") is None:
                raise ToolError(f"Go is required to build {name} {version} (install Go 1.26)")
            partial = binary.with_name(f"{name}.partial").absolute()
            try:
                build(tool, version, partial)
            except BuildError:
                raise ToolError(f"building {name} {version} failed") from None
            partial.rename(binary)
            _say(f"built {name} {version} in {int(time.monotonic() - start)}s")
    return binary


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _say(message: str) -> None:
    print(f"{PREFIX}: {message}", file=sys.stderr, flush=True)


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop tool NAME | --all | --list | --ensure NAME...` (the module's docstring)."""
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("name", nargs="?", help="build NAME if missing, print its path")
    what.add_argument("--all", action="store_true", help="build every tool")
    what.add_argument("--list", action="store_true", help="print NAME VERSION for every tool")
    what.add_argument(
        "--ensure", nargs="+", metavar="NAME", help="build those if missing, print NAME PATH each"
    )


def run_command(args: argparse.Namespace) -> int:
    """Build, list or ensure; a tool that cannot be built raises ToolError."""
    if args.list:
        for tool in TOOLS:
            print(f"{tool.name} {version_of(tool)}")
    elif args.ensure:
        names = [tool.name for tool in TOOLS] if args.ensure == ["all"] else args.ensure
        for name in names:
            print(f"{name} {ensure(name)}")
    elif args.all:
        for tool in TOOLS:
            ensure(tool.name)
    else:
        print(ensure(args.name))
    return 0
