"""The cluster command line: one line and exit 1 per failure, tear-down after a failed bring-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from microshop_ci.cli import main as microshop
from microshop_ci.cluster import cli, kind
from microshop_ci.cluster.pins import PinError
from microshop_ci.core.gobuild import BuildError, GoComponent


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default cluster and registry names, whatever the shell has."""
    monkeypatch.delenv("MICROSHOP_REGISTRY", raising=False)
    monkeypatch.delenv("KIND_CLUSTER_NAME", raising=False)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def test_an_unknown_component_is_named_with_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert microshop(["cluster", "build", "kubernetes", "nginx"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown component 'nginx' (known: kubernetes, etcd, ")
    assert err.count("\n") == 1


def test_build_builds_the_named_components_in_order(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    built: list[str] = []

    def build(component: GoComponent) -> Path:
        built.append(component.name)
        return Path(f"/cache/{component.name}")

    monkeypatch.setattr(cli, "build", build)
    monkeypatch.setattr(cli, "build_seconds", lambda component: 7)
    assert microshop(["cluster", "build", "runc", "etcd"]) == 0
    assert built == ["runc", "etcd"]
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["runc", "etcd"]
    assert lines[0].endswith(": /cache/runc (7 s)")


def test_a_failed_bring_up_names_the_step_and_tears_down(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[str] = []

    def up(settings: kind.ClusterSettings, source: str) -> None:
        seen.append(f"up {settings.name} {source}")
        raise BuildError("kind create cluster microshop failed (exit 1; log: /x/kind.log)")

    monkeypatch.setattr(kind, "up", up)
    monkeypatch.setattr(kind, "down", lambda settings: seen.append(f"down {settings.name}"))
    assert microshop(["cluster", "up", "--node-image", "upstream"]) == 1
    assert seen == ["up microshop upstream", "down microshop"]
    assert capsys.readouterr().err == (
        "cluster: bring-up failed: kind create cluster microshop failed (exit 1; log: "
        "/x/kind.log); tearing down\n"
        "error: kind create cluster microshop failed (exit 1; log: /x/kind.log)\n"
    )


def test_ctrl_c_during_bring_up_tears_down_and_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def up(settings: kind.ClusterSettings, source: str) -> None:
        raise KeyboardInterrupt

    def down(settings: kind.ClusterSettings) -> None:
        raise BuildError("kind delete cluster failed (exit 1; log: /x/kind.log)")

    monkeypatch.setattr(kind, "up", up)
    monkeypatch.setattr(kind, "down", down)
    assert microshop(["cluster", "up", "--node-image", "local"]) == 130
    assert capsys.readouterr().err == (
        "cluster: bring-up failed: interrupted; tearing down\n"
        "cluster: tear-down failed too: kind delete cluster failed (exit 1; log: /x/kind.log)\n"
        "error: interrupted\n"
    )


def test_an_unexpected_bring_up_error_is_raised_after_tear_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []

    def up(settings: kind.ClusterSettings, source: str) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(kind, "up", up)
    monkeypatch.setattr(kind, "down", lambda settings: seen.append("down"))
    with pytest.raises(ZeroDivisionError, match="a bug"):
        microshop(["cluster", "up"])
    assert seen == ["down"]


def test_a_bring_up_reports_the_cluster_and_registry(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KIND_CLUSTER_NAME", "ci")
    monkeypatch.setattr(kind, "up", lambda settings, source: None)
    assert microshop(["cluster", "up"]) == 0
    assert capsys.readouterr().out == (
        "cluster: kind cluster 'ci' and registry kind-registry:5000 are up\n"
    )


def test_down_addons_and_images_dispatch_to_their_modules(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seen: list[object] = []
    monkeypatch.setattr(kind, "down", lambda settings: seen.append(("down", settings.registry)))
    monkeypatch.setattr(cli.addons, "install", lambda mesh: seen.append(("addons", mesh)))
    monkeypatch.setattr(cli.database, "database_image", lambda path: f"db {path.name}")
    monkeypatch.setattr(cli.mesh, "add_proxy_to_images_file", lambda path: f"proxy {path.name}")
    monkeypatch.setattr(cli.nodeimage, "build_node_image", lambda: "kindest/node:local")
    images = str(tmp_path / "images.json")
    assert microshop(["cluster", "down"]) == 0
    assert microshop(["cluster", "addons"]) == 0
    assert microshop(["cluster", "addons", "--no-mesh"]) == 0
    assert microshop(["cluster", "database-image", "--images", images]) == 0
    assert microshop(["cluster", "proxy-image", "--images", images]) == 0
    assert microshop(["cluster", "node-image"]) == 0
    assert seen == [("down", "kind-registry:5000"), ("addons", True), ("addons", False)]
    assert capsys.readouterr().out == "db images.json\nproxy images.json\nkindest/node:local\n"


def test_e2e_passes_what_it_does_not_know_to_pytest(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[bool, bool, list[str]]] = []

    def run(local: bool, keep: bool, rest: list[str]) -> int:
        seen.append((local, keep, rest))
        return 0

    monkeypatch.setattr(cli.flow, "run_e2e", run)
    assert microshop(["cluster", "e2e", "--keep", "--node-image", "upstream", "-k", "shop"]) == 0
    assert seen == [(False, True, ["-k", "shop"])]


def test_other_commands_refuse_unknown_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert microshop(["cluster", "down", "--force"]) == 2
    assert capsys.readouterr().err == (
        "error: microshop cluster: unrecognized arguments: --force (see microshop cluster --help)\n"
    )


def test_a_missing_pin_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> str:
        raise PinError("KIND_NODE_IMAGE is not pinned in scripts/tool-versions.env")

    monkeypatch.setattr(cli.nodeimage, "build_node_image", broken)
    assert microshop(["cluster", "node-image"]) == 1
    assert capsys.readouterr().err == (
        "error: KIND_NODE_IMAGE is not pinned in scripts/tool-versions.env\n"
    )
