"""Images the cluster code builds (database, mesh): build context, push, digest; Istio's wiring."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from microshop_ci.cluster import images, mesh
from microshop_ci.core.gobuild import BuildError

DIGEST = "sha256:" + "f" * 64


class Runs:
    """Stands in for the command runner: records argv and the build context it was given."""

    def __init__(self, digests: list[str]) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.contexts: dict[str, dict[str, tuple[str, int]]] = {}
        self.digests = digests

    def __call__(self, argv: Sequence[str], *, step: str, log: Path, **kwargs: object) -> str:
        self.calls.append(tuple(argv))
        if argv[:2] == ["docker", "build"]:
            context = Path(argv[-1])
            self.contexts[argv[-2]] = {
                p.name: (p.read_text(), p.stat().st_mode & 0o777) for p in context.iterdir()
            }
        if argv[:3] == ["docker", "image", "inspect"]:
            return json.dumps(self.digests)
        return ""


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Runs:
    recorder = Runs([f"other/name@{DIGEST}", f"kind-registry:5000/ferretdb@{DIGEST}"])
    monkeypatch.setattr(images, "run", recorder)
    monkeypatch.setattr(images, "log_path", lambda: tmp_path / "kind.log")
    return recorder


def test_an_image_is_built_offline_from_its_files_pushed_and_named_by_digest(
    runs: Runs, tmp_path: Path
) -> None:
    binary = tmp_path / "ferretdb"
    binary.write_text("elf")
    binary.chmod(0o755)
    config = tmp_path / "config.yml"
    config.write_text("x: 1")
    tag = "kind-registry:5000/ferretdb:v2"
    dockerfile = "FROM scratch\nCOPY ferretdb /ferretdb\n"
    ref = images.build_and_push(tag, dockerfile, {"ferretdb": binary, "config.yml": config})
    assert ref == f"kind-registry:5000/ferretdb@{DIGEST}"
    assert runs.contexts[tag] == {
        "ferretdb": ("elf", 0o755),
        "config.yml": ("x: 1", 0o644),
        "Dockerfile": (dockerfile, 0o644),
    }
    assert [call[:2] for call in runs.calls] == [
        ("docker", "build"),
        ("docker", "push"),
        ("docker", "image"),
    ]
    assert runs.calls[0][2:6] == ("--quiet", "--network", "none", "-t")
    assert runs.calls[1] == ("docker", "push", tag)


def test_a_push_without_a_digest_of_that_name_is_an_error(runs: Runs) -> None:
    runs.digests = [f"other/name@{DIGEST}"]
    with pytest.raises(BuildError) as caught:
        images.pushed_digest_ref("kind-registry:5000/ferretdb:v2")
    assert str(caught.value) == (
        "kind-registry:5000/ferretdb:v2 was pushed but Docker reports no digest for "
        "kind-registry:5000/ferretdb"
    )


def test_the_registry_is_the_runs_lower_cased(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROSHOP_REGISTRY", "Kind-Registry:5000")
    assert images.registry() == "kind-registry:5000"
    monkeypatch.delenv("MICROSHOP_REGISTRY")
    assert images.registry() == "kind-registry:5000"


def test_istio_images_are_built_from_the_pinned_commit_and_pushed_under_one_tag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pushed: list[tuple[str, list[str]]] = []

    def build_and_push(tag: str, dockerfile: str, files: dict[str, Path]) -> str:
        pushed.append((tag, sorted(files)))
        return tag.replace(":b01690e6-envoy-1.38.3", f"@{DIGEST}")

    monkeypatch.setattr(mesh, "build", lambda component: tmp_path / component.name)
    monkeypatch.setattr(mesh, "module_dir", lambda module, version, log: tmp_path / "istio")
    monkeypatch.setattr(mesh, "envoy", lambda: tmp_path / "envoy")
    monkeypatch.setattr(mesh, "runtime_base", lambda: "microshop/runtime@" + DIGEST)
    monkeypatch.setattr(mesh, "image_tag", lambda: "b01690e6-envoy-1.38.3")
    monkeypatch.setattr(mesh.images, "build_and_push", build_and_push)
    monkeypatch.setenv("MICROSHOP_REGISTRY", "kind-registry:5000")
    refs = mesh.build_images()
    assert refs == {
        "pilot": f"kind-registry:5000/istio/pilot@{DIGEST}",
        "proxyv2": f"kind-registry:5000/istio/proxyv2@{DIGEST}",
        "install-cni": f"kind-registry:5000/istio/install-cni@{DIGEST}",
    }
    assert pushed == [
        ("kind-registry:5000/istio/pilot:b01690e6-envoy-1.38.3", ["pilot-discovery"]),
        (
            "kind-registry:5000/istio/proxyv2:b01690e6-envoy-1.38.3",
            ["envoy", "envoy_bootstrap.json", "pilot-agent"],
        ),
        (
            "kind-registry:5000/istio/install-cni:b01690e6-envoy-1.38.3",
            ["install-cni", "istio-cni"],
        ),
    ]


def test_istio_is_installed_with_our_operator_spec(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    refs = {name: f"r/istio/{name}@{DIGEST}" for name in ("pilot", "proxyv2", "install-cni")}
    seen: list[tuple[str, ...]] = []
    specs: list[str] = []

    def run(argv: Sequence[str], *, step: str, log: Path, **kwargs: object) -> str:
        seen.append(tuple(argv))
        specs.append(Path(argv[-1]).read_text())
        return ""

    monkeypatch.setattr(mesh, "build_images", lambda: refs)
    monkeypatch.setattr(mesh, "run", run)
    monkeypatch.setattr(mesh, "tool", lambda name: f"/tools/{name}")
    monkeypatch.setattr(mesh, "log_path", lambda: tmp_path / "kind.log")
    assert mesh.install() == refs
    assert seen[0][:4] == ("/tools/istioctl", "install", "-y", "-f")
    assert specs == [mesh.operator(refs)]


def test_the_image_tag_joins_the_istio_commit_and_the_envoy_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mesh, "pin", lambda key: "v0.0.0-20260423205519-b01690e6db7d")
    monkeypatch.setattr(mesh, "envoy_version", lambda: "1.38.3")
    assert mesh.image_tag() == "b01690e6-envoy-1.38.3"
    assert mesh.istio_ldflags("v0.0.0-20260423205519-b01690e6db7d") == (
        "-s -w -X istio.io/istio/pkg/version.buildVersion=1.31-dev-b01690e6 "
        "-X istio.io/istio/pkg/version.buildGitRevision=b01690e6 "
        "-X istio.io/istio/pkg/version.buildStatus=Clean "
        "-X istio.io/istio/pkg/version.buildTag=v0.0.0-20260423205519-b01690e6db7d"
    )
