"""kubectl built from the pinned Kubernetes source (scripts/build-kubectl): no binary downloaded."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from microshop_ci.cluster import components, kind
from microshop_ci.core.gobuild import BuildError
from tests.conftest import REPO_ROOT

VERSION = components.KUBERNETES.version


def fake_kubectl(cache: Path, component: str, reports: str) -> Path:
    """A kubectl 'built' into cache as gobuild leaves one (bin/ and build.json), that reports
    version `reports`."""
    out = cache / "cluster" / component / VERSION / "bin"
    out.mkdir(parents=True)
    (out.parent / "build.json").write_text('{"seconds": 1, "bytes": {}}\n')
    binary = out / "kubectl"
    answer = json.dumps({"clientVersion": {"gitVersion": reports}})
    binary.write_text(f"#!/bin/sh\necho '{answer}'\n")
    binary.chmod(0o755)
    return binary


def test_kubectl_alone_is_the_kubernetes_build_with_one_package() -> None:
    assert dataclasses.replace(components.KUBECTL, name="kubernetes", packages=()) == (
        dataclasses.replace(components.KUBERNETES, packages=())
    )
    assert components.KUBECTL.packages == ("./cmd/kubectl",)
    assert components.KUBECTL not in components.ALL  # not part of the node image's key


def test_the_script_prints_the_kubectl_built_at_the_pinned_version(tmp_path: Path) -> None:
    binary = fake_kubectl(tmp_path, "kubectl", VERSION)
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "build-kubectl")],
        env={**os.environ, "MICROSHOP_CACHE": str(tmp_path)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{binary}\n"


def test_a_kubectl_that_reports_another_version_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MICROSHOP_CACHE", str(tmp_path))
    binary = fake_kubectl(tmp_path, "kubectl", "v1.35.0")
    with pytest.raises(BuildError) as caught:
        kind.build_kubectl()
    assert str(caught.value) == f"{binary} reports 'v1.35.0', not the pinned {VERSION}"


def test_the_cluster_code_prefers_the_node_build_then_kubectl_alone_then_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, alone = tmp_path / "node" / "kubectl", tmp_path / "alone" / "kubectl"
    monkeypatch.setattr(kind, "components", SimpleNamespace(
        KUBERNETES=SimpleNamespace(binary=lambda _: node),
        KUBECTL=SimpleNamespace(binary=lambda _: alone),
    ))  # fmt: skip
    on_path = tmp_path / "path"
    on_path.mkdir()
    (on_path / "kubectl").write_text("#!/bin/sh\n")
    (on_path / "kubectl").chmod(0o755)
    monkeypatch.setenv("PATH", str(on_path))
    assert kind.kubectl() == str(on_path / "kubectl")
    alone.parent.mkdir()
    alone.write_text("")
    assert kind.kubectl() == str(alone)
    node.parent.mkdir()
    node.write_text("")
    assert kind.kubectl() == str(node)


def test_every_script_finds_the_built_kubectl_first_on_path(tmp_path: Path) -> None:
    alone = fake_kubectl(tmp_path, "kubectl", VERSION)
    source = f'source "{REPO_ROOT}/scripts/lib.sh"; command -v kubectl'
    env = {**os.environ, "MICROSHOP_CACHE": str(tmp_path)}

    def found() -> str:
        return subprocess.run(
            ["bash", "-c", source], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert found() == str(alone)
    node = fake_kubectl(tmp_path, "kubernetes", VERSION)
    assert found() == str(node)
