"""The pinned Go tools (scripts/tool): the build table, the cache layout, the CLI and its errors.

`go` is a stand-in on PATH that records its arguments, working folder and environment and writes
a binary where `go install` (GOBIN) or `go build -o` would: what is tested is our logic around the
Go toolchain, not the toolchain (one real build is measured by hand, see the docs).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from microshop_ci.cli import main as microshop
from microshop_ci.core import gotools, pins
from microshop_ci.core.cache import locked
from microshop_ci.core.errors import ToolError
from microshop_ci.core.paths import SCRIPTS_DIR
from microshop_ci.gha.act_output import DRAIN_FIRST, EARLY_RETURN, FILE
from tests.scripts.core.fake_go import install_fake_go

FAKE_GO = """#!/usr/bin/env bash
echo "$* | cwd=$PWD cgo=${CGO_ENABLED:-} goflags=${GOFLAGS:-} gobin=${GOBIN:-}\
 goexperiment=${GOEXPERIMENT:-}" >> "$FAKE_GO_LOG"
[[ -n "${FAKE_GO_FAIL:-}" ]] && { echo "compile error" >&2; exit 2; }
case "$1" in
  mod) cat "$FAKE_GO_MOD" ;;
  install) target="${@: -1}"; target="${target%@*}"; printf 'installed' > "$GOBIN/${target##*/}"
    chmod +x "$GOBIN/${target##*/}" ;;
  build)
    test -w go.mod || { echo "go.mod is read-only" >&2; exit 1; }
    [[ -f build/version/version.txt ]] && echo "version.txt=$(cat build/version/version.txt)" \\
      >> "$FAKE_GO_LOG"
    [[ -f pkg/container/host_environment.go ]] && cp pkg/container/host_environment.go \\
      "$FAKE_GO_LOG.act"
    while (($#)); do
      if [[ "$1" == -o ]]; then out="$2"; shift; fi
      shift
    done
    printf 'built' > "$out"; chmod +x "$out" ;;
esac
"""

# Transcribed from the bash scripts/tool this module replaced: NAME -> (go command, added env).
GO_INSTALL = {"CGO_ENABLED": "0", "GOBIN": "/o", "GOFLAGS": "-trimpath"}
COPY = {"CGO_ENABLED": "0"}
EXPECTED = {
    "ferretdb": (["build", "-trimpath", "-o", "/o", "./cmd/ferretdb"], COPY),
    "cosign": (
        ["install", "-ldflags", "-X sigs.k8s.io/release-utils/version.gitVersion=v1.2.3",
         "github.com/sigstore/cosign/v3/cmd/cosign@v1.2.3"],
        GO_INSTALL,
    ),
    "kyverno": (
        ["build", "-trimpath", "-ldflags",
         "-X github.com/kyverno/kyverno/pkg/version.BuildVersion=v1.2.3", "-o", "/o",
         "./cmd/cli/kubectl-kyverno"],
        COPY,
    ),
    "kind": (["install", "sigs.k8s.io/kind@v1.2.3"], GO_INSTALL),
    "crane": (["install", "github.com/google/go-containerregistry/cmd/crane@v1.2.3"], GO_INSTALL),
    "registry": (
        ["install", "github.com/distribution/distribution/v3/cmd/registry@v1.2.3"], GO_INSTALL
    ),
    "kubeconform": (["install", "github.com/yannh/kubeconform/cmd/kubeconform@v1.2.3"], GO_INSTALL),
    "kube-linter": (
        ["build", "-trimpath", "-ldflags",
         "-X golang.stackrox.io/kube-linter/internal/version.version=1.2.3", "-o", "/o",
         "./cmd/kube-linter"],
        COPY,
    ),
    "actionlint": (["install", "github.com/rhysd/actionlint/cmd/actionlint@v1.2.3"], GO_INSTALL),
    "syft": (["install", "github.com/anchore/syft/cmd/syft@v1.2.3"], GO_INSTALL),
    "trivy": (
        ["build", "-trimpath", "-ldflags",
         "-X github.com/aquasecurity/trivy/pkg/version/app.ver=1.2.3", "-o", "/o", "./cmd/trivy"],
        {"CGO_ENABLED": "0", "GOEXPERIMENT": "jsonv2"},
    ),
    "istioctl": (
        ["build", "-trimpath", "-ldflags",
         "-X istio.io/istio/pkg/version.buildVersion=v1.2.3"
         " -X istio.io/istio/pkg/version.buildStatus=Clean", "-o", "/o", "./istioctl/cmd/istioctl"],
        COPY,
    ),
    "kustomize": (["install", "sigs.k8s.io/kustomize/kustomize/v5@v1.2.3"], GO_INSTALL),
    "helm": (["install", "helm.sh/helm/v4/cmd/helm@v1.2.3"], GO_INSTALL),
    "act": (["build", "-trimpath", "-o", "/o", "."], COPY),
}  # fmt: skip
MODULES = {
    "ferretdb": "github.com/FerretDB/FerretDB",
    "kyverno": "github.com/kyverno/kyverno",
    "kube-linter": "github.com/stackrox/kube-linter",
    "trivy": "github.com/aquasecurity/trivy",
    "istioctl": "istio.io/istio",
    "act": "github.com/nektos/act",
}


@pytest.fixture
def go(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in go alone on PATH (with the shell's tools); returns its call log."""
    return install_fake_go(
        tmp_path,
        monkeypatch,
        FAKE_GO,
        ("FAKE_GO_FAIL", "GOFLAGS", "GOBIN", "GOEXPERIMENT", "CGO_ENABLED"),
    )


def _module(tmp_path: Path) -> Path:
    """A read-only module folder as Go's module cache keeps them, with FerretDB's version folder."""
    source = tmp_path / "module"
    (source / "build" / "version").mkdir(parents=True)
    (source / "go.mod").write_text("module example.com/tool\n")
    for path in (source / "go.mod", source / "build" / "version", source / "build", source):
        path.chmod(0o555 if path.is_dir() else 0o444)
    (tmp_path / "mod.json").write_text(json.dumps({"Dir": str(source)}))
    return source


def test_every_tool_is_built_with_the_module_package_flags_and_env_of_the_bash_script() -> None:
    assert list(gotools.BY_NAME) == list(EXPECTED)
    for tool in gotools.TOOLS:
        assert gotools.go_command(tool, "v1.2.3", Path("/o")) == EXPECTED[tool.name], tool.name
        assert tool.module == MODULES.get(tool.name, ""), tool.name
        assert tool.pin_key == tool.name.upper().replace("-", "_") + "_VERSION"
    assert {t.name: t.fix for t in gotools.TOOLS if t.fix} == {"act": "+drain-failed-output"}
    assert {t.name for t in gotools.TOOLS if t.prepare} == {"ferretdb", "act"}


def test_the_cache_path_is_tools_name_version_then_fix_suffix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICROSHOP_CACHE", str(tmp_path / "m"))
    kind, act = gotools.lookup("kind"), gotools.lookup("act")
    assert gotools.binary_path(kind, "v0.32.0") == tmp_path / "m/tools/kind/v0.32.0/kind"
    assert gotools.binary_path(act, "v0.2.89") == (
        tmp_path / "m/tools/act/v0.2.89+drain-failed-output/act"
    )
    monkeypatch.delenv("MICROSHOP_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert gotools.binary_path(kind, "v1") == tmp_path / "xdg/microshop/tools/kind/v1/kind"


def test_list_prints_every_tool_and_its_pinned_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert microshop(["tool", "--list"]) == 0
    versions = pins.pins()
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"{n} {versions[n.upper().replace('-', '_') + '_VERSION']}" for n in EXPECTED]
    assert lines[0] == f"ferretdb {versions['FERRETDB_VERSION']}"
    assert len(lines) == 15


def test_naming_no_tool_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert microshop(["tool"]) == 2
    assert capsys.readouterr().err == (
        "error: microshop tool: one of the arguments name --all --list --ensure is required "
        "(see microshop tool --help)\n"
    )


def test_an_unknown_tool_is_one_line_naming_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert microshop(["tool", "nope"]) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        "",
        "error: unknown tool 'nope' (known: ferretdb cosign kyverno kind crane registry "
        "kubeconform kube-linter actionlint syft trivy istioctl kustomize helm act)\n",
    )


def test_without_go_the_build_says_to_install_it(
    go: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    version = pins.pin("KIND_VERSION")
    assert microshop(["tool", "kind"]) == 1
    assert capsys.readouterr().err == (
        f"scripts/tool: building kind {version} (once per machine)...\n"
        f"error: Go is required to build kind {version} (install Go 1.26)\n"
    )
    assert not (tmp_path / "cache/tools/kind" / version / "kind").exists()


def test_go_install_builds_into_a_partial_file_renamed_in_place_once(
    go: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    version = pins.pin("COSIGN_VERSION")
    folder = tmp_path / "cache" / "tools" / "cosign" / version
    assert microshop(["tool", "cosign"]) == 0
    captured = capfd.readouterr()
    assert captured.out == f"{folder / 'cosign'}\n"
    assert captured.err.splitlines()[0] == (
        f"scripts/tool: building cosign {version} (once per machine)..."
    )
    assert captured.err.splitlines()[1].startswith(f"scripts/tool: built cosign {version} in ")
    assert len(captured.err.splitlines()) == 2
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "cosign"]
    assert (folder / "cosign").read_text() == "installed"
    (call,) = go.read_text().splitlines()
    argv, _, env = call.partition(" | ")
    assert argv == (
        f"install -ldflags -X sigs.k8s.io/release-utils/version.gitVersion={version} "
        f"github.com/sigstore/cosign/v3/cmd/cosign@{version}"
    )
    assert env.split()[1:3] == ["cgo=0", "goflags=-trimpath"]
    assert env.split()[3].startswith("gobin=/")
    assert env.split()[4] == "goexperiment="
    # cached: no go command, no message
    assert microshop(["tool", "cosign"]) == 0
    assert capfd.readouterr() == (f"{folder / 'cosign'}\n", "")
    assert len(go.read_text().splitlines()) == 1


def test_a_module_with_replace_is_built_inside_a_writable_prepared_copy(
    go: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    source = _module(tmp_path)
    version = pins.pin("FERRETDB_VERSION")
    binary = tmp_path / "cache" / "tools" / "ferretdb" / version / "ferretdb"
    assert gotools.ensure("ferretdb") == binary
    assert binary.read_text() == "built"
    download, build, version_txt = go.read_text().splitlines()
    assert download.split(" | ")[0] == f"mod download -json github.com/FerretDB/FerretDB@{version}"
    argv, _, env = build.partition(" | ")
    assert argv == f"build -trimpath -o {binary.with_name('ferretdb.partial')} ./cmd/ferretdb"
    assert env.split()[0].startswith("cwd=/")
    assert env.split()[0] != f"cwd={source}"
    assert env.split()[1:3] == ["cgo=0", "goflags="]
    assert version_txt == f"version.txt={version}"
    assert not (source / "build" / "version" / "version.txt").exists()


ACT_EXEC = "func exec() error {\n" + EARLY_RETURN + "\t}\n\t<-logctx.Done()\n\treturn err\n}\n"


@pytest.mark.parametrize("fixable", [True, False])
def test_act_is_built_with_the_drain_fix_into_its_own_folder_or_not_at_all(
    go: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], fixable: bool
) -> None:
    source = _module(tmp_path)
    text = ACT_EXEC if fixable else ACT_EXEC.replace(EARLY_RETURN, DRAIN_FIRST)
    source.chmod(0o755)
    (source / FILE).parent.mkdir(parents=True)
    (source / FILE).write_text(text)
    version = pins.pin("ACT_VERSION")
    binary = tmp_path / "cache" / "tools" / "act" / f"{version}+drain-failed-output" / "act"
    assert microshop(["tool", "act"]) == (0 if fixable else 1)
    err = capfd.readouterr().err
    assert (source / FILE).read_text() == text  # the module cache's copy is never edited
    if fixable:
        assert binary.read_text() == "built"
        assert Path(f"{go}.act").read_text() == ACT_EXEC.replace(EARLY_RETURN, DRAIN_FIRST)
    else:
        assert not binary.exists()
        assert "error: " in err
        assert "the early return after cmd.Run() is not there exactly once" in err
        assert err.endswith(f"\nerror: building act {version} failed\n")
        assert [line.split(" | ")[0] for line in go.read_text().splitlines()] == [
            f"mod download -json github.com/nektos/act@{version}"
        ]


def test_a_failed_build_is_one_line_and_leaves_no_binary(
    go: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_GO_FAIL", "1")
    version = pins.pin("KIND_VERSION")
    assert microshop(["tool", "kind"]) == 1
    err = capfd.readouterr().err  # go's own stderr passes through, as in the bash script
    assert err.endswith(f"compile error\nerror: building kind {version} failed\n")
    assert not (tmp_path / "cache" / "tools" / "kind" / version / "kind").exists()


def test_all_on_a_warm_cache_builds_nothing_and_prints_nothing(
    go: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    versions = pins.pins()
    for tool in gotools.TOOLS:
        binary = tmp_path / "cache/tools" / tool.name / (versions[tool.pin_key] + tool.fix)
        binary.mkdir(parents=True)
        (binary / tool.name).write_text("cached")
        (binary / tool.name).chmod(0o755)
    assert microshop(["tool", "--all"]) == 0
    assert capfd.readouterr() == ("", "")
    assert not go.exists()


def test_a_build_in_progress_elsewhere_is_waited_for_and_not_repeated(
    go: Path, tmp_path: Path
) -> None:
    version = pins.pin("KIND_VERSION")
    folder = tmp_path / "cache" / "tools" / "kind" / version
    found: list[Path] = []
    with locked(folder / ".lock"):
        waiter = threading.Thread(target=lambda: found.append(gotools.ensure("kind")))
        waiter.start()
        time.sleep(0.5)
        assert found == []  # waiting on the lock
        (folder / "kind").write_text("from the other process")
        (folder / "kind").chmod(0o755)
    waiter.join(timeout=10)
    assert found == [folder / "kind"]
    assert not go.exists()  # no go command ran


def test_the_entry_point_runs_the_module_with_the_standard_library_only(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    listed = subprocess.run(
        [str(SCRIPTS_DIR / "tool"), "--list"], env=env, capture_output=True, text=True, check=False
    )
    assert (listed.returncode, listed.stderr) == (0, "")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == list(EXPECTED)
    unknown = subprocess.run(
        [str(SCRIPTS_DIR / "tool"), "nope"], env=env, capture_output=True, text=True, check=False
    )
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr.startswith("error: unknown tool 'nope' (known: ferretdb ")
    assert unknown.stderr.count("\n") == 1
    # the module imports nothing outside the standard library and microshop_ci
    probe = (
        "import sys, microshop_ci.core.gotools; "
        "print(sorted({m.split('.')[0] for m in sys.modules} - set(sys.stdlib_module_names)))"
    )
    imported = subprocess.run(
        [sys.executable, "-S", "-c", probe],
        env={"PYTHONPATH": str(SCRIPTS_DIR)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert imported.stdout == "['__main__', 'microshop_ci']\n"


def test_ensure_prints_name_and_path_per_tool_and_stops_at_an_unknown_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def ensure(name: str) -> Path:
        if name not in EXPECTED:
            raise ToolError(f"unknown tool '{name}'")
        return Path("/cache") / name

    monkeypatch.setattr(gotools, "ensure", ensure)
    assert microshop(["tool", "--ensure", "kind", "crane"]) == 0
    assert capsys.readouterr().out == "kind /cache/kind\ncrane /cache/crane\n"
    assert microshop(["tool", "--ensure", "kind", "nope", "crane"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "kind /cache/kind\n"
    assert captured.err == "error: unknown tool 'nope'\n"


def test_ensure_all_builds_every_pinned_tool_in_order(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(gotools, "ensure", lambda name: Path("/cache") / name)
    assert microshop(["tool", "--ensure", "all"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == [tool.name for tool in gotools.TOOLS]
    assert len(names) == 15
