"""What bring-up and tear-down run, in order, with the command runner stood in (no Docker)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace

import pytest

from microshop_ci.cluster import addons, kind, kyverno
from microshop_ci.core.gobuild import BuildError
from tests.conftest import free_port, loopback_http_server


class Recorder:
    """Stands in for cluster.run.run and kind's quiet docker: records argv, answers by prefix."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.stdin: list[bytes | None] = []
        self.answers: dict[tuple[str, ...], str] = {}
        self.codes: dict[tuple[str, ...], int] = {}

    def _answer(self, argv: tuple[str, ...], table: dict[tuple[str, ...], str]) -> str:
        for size in range(len(argv), 0, -1):
            if argv[:size] in table:
                return table[argv[:size]]
        return ""

    def run(
        self,
        argv: Sequence[str],
        *,
        step: str,
        log: Path,
        stdin: bytes | None = None,
        **kwargs: object,
    ) -> str:
        self.calls.append(tuple(argv))
        self.stdin.append(stdin)
        return self._answer(tuple(argv), self.answers)

    def docker_quiet(self, *args: str) -> subprocess.CompletedProcess[str]:
        argv = ("docker", *args)
        self.calls.append(argv)
        code = self.codes.get(argv[:3], 0)
        return subprocess.CompletedProcess(argv, code, self._answer(argv, self.answers), "")


@pytest.fixture
def rec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Recorder:
    """kind and addons with their runner, tools and kubectl stood in."""
    recorder = Recorder()
    monkeypatch.setattr(kind, "run", recorder.run)
    monkeypatch.setattr(kind, "_docker_quiet", recorder.docker_quiet)
    monkeypatch.setattr(kind, "tool", lambda name: f"/tools/{name}")
    monkeypatch.setattr(kind, "kubectl", lambda: "/bin/kubectl")
    monkeypatch.setattr(kind, "log_path", lambda: tmp_path / "kind.log")
    for module in (addons, kyverno):
        monkeypatch.setattr(module, "run", recorder.run)
        monkeypatch.setattr(module, "kubectl", lambda: "/bin/kubectl")
        monkeypatch.setattr(module, "log_path", lambda: tmp_path / "kind.log")
    monkeypatch.setattr(kyverno, "tool", lambda name: f"/tools/{name}")
    return recorder


def test_a_cluster_is_created_with_the_projects_config_once(rec: Recorder) -> None:
    settings = kind.ClusterSettings("ci", "kind-registry:5000")
    kind.create_cluster(settings, "kindest/node:local")
    assert rec.calls == [
        ("/tools/kind", "get", "clusters"),
        (
            "/tools/kind",
            "create",
            "cluster",
            "--name",
            "ci",
            "--image",
            "kindest/node:local",
            "--wait",
            "300s",
            "--config",
            str(kind.KIND_CONFIG),
        ),
    ]
    rec.calls.clear()
    rec.answers[("/tools/kind", "get", "clusters")] = "other\nci\n"
    kind.create_cluster(settings, "kindest/node:local")
    assert rec.calls == [("/tools/kind", "get", "clusters")]


def test_the_registry_runs_on_the_kind_network_published_on_loopback(
    rec: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kind, "registry_image", lambda: "microshop/kind-registry:3.0.0")
    kind.start_registry(kind.ClusterSettings("ci", "kind-registry:5001"))
    assert rec.calls == [
        ("docker", "ps", "-q", "--filter", "name=^kind-registry$"),
        ("docker", "rm", "-f", "kind-registry"),
        (
            "docker",
            "run",
            "-d",
            "--restart=always",
            "--name",
            "kind-registry",
            "--network",
            "kind",
            "--mount",
            "type=tmpfs,destination=/var/lib/registry,tmpfs-mode=1777",
            "-e",
            "REGISTRY_HTTP_ADDR=:5001",
            "-p",
            "127.0.0.1:5001:5001",
            "microshop/kind-registry:3.0.0",
        ),
    ]
    rec.calls.clear()
    rec.answers[("docker", "ps")] = "f00d\n"
    kind.start_registry(kind.ClusterSettings("ci", "kind-registry:5001"))
    assert rec.calls == [("docker", "ps", "-q", "--filter", "name=^kind-registry$")]


def test_an_existing_registry_image_is_not_built_again(rec: Recorder) -> None:
    name = kind.registry_image()
    assert name.startswith("microshop/kind-registry:")
    assert rec.calls == [("docker", "image", "inspect", name)]


def test_every_node_is_told_the_registry_speaks_plain_http(rec: Recorder) -> None:
    rec.answers[("/tools/kind", "get", "nodes")] = "ci-control-plane\nci-worker\n"
    kind.configure_nodes(kind.ClusterSettings("ci", "kind-registry:5000"))
    folder = "/etc/containerd/certs.d/kind-registry:5000"
    assert rec.calls == [
        ("/tools/kind", "get", "nodes", "--name", "ci"),
        ("docker", "exec", "ci-control-plane", "mkdir", "-p", folder),
        ("docker", "exec", "-i", "ci-control-plane", "cp", "/dev/stdin", f"{folder}/hosts.toml"),
        ("docker", "exec", "ci-worker", "mkdir", "-p", folder),
        ("docker", "exec", "-i", "ci-worker", "cp", "/dev/stdin", f"{folder}/hosts.toml"),
    ]
    assert rec.stdin[2] == (
        b'[host."http://kind-registry:5000"]\n  capabilities = ["pull", "resolve"]\n'
    )


def test_the_registry_is_announced_as_kep_1755_says(rec: Recorder) -> None:
    kind.announce_registry(kind.ClusterSettings("ci", "kind-registry:5000"))
    assert rec.calls == [("/bin/kubectl", "apply", "-f", "-")]
    assert rec.stdin[0] == (
        b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local-registry-hosting\n"
        b"  namespace: kube-public\ndata:\n  localRegistryHosting.v1: |\n"
        b'    host: "kind-registry:5000"\n'
        b'    hostFromContainerRuntime: "kind-registry:5000"\n'
        b'    hostFromClusterNetwork: "kind-registry:5000"\n'
    )


def test_down_keeps_the_registry_while_another_kind_cluster_uses_it(
    rec: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["ci\nother\n", "other\n"])
    asked: list[str] = []

    def clusters(binary: str) -> list[str]:
        asked.append(binary)
        return next(answers).split()

    monkeypatch.setattr(kind, "clusters", clusters)
    kind.down(kind.ClusterSettings("ci", "kind-registry:5000"))
    assert rec.calls == [("/tools/kind", "delete", "cluster", "--name", "ci")]
    assert asked == ["/tools/kind", "/tools/kind"]


def test_the_last_cluster_down_removes_registry_network_and_hosts_line(
    rec: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.1 kind-registry # microshop kind registry\n")
    monkeypatch.setattr(kind, "HOSTS", hosts)
    kind.down(kind.ClusterSettings("ci", "kind-registry:5000"))
    assert rec.calls == [
        ("/tools/kind", "get", "clusters"),
        ("/tools/kind", "get", "clusters"),
        ("docker", "rm", "-f", "-v", "kind-registry"),
        ("docker", "ps", "-aq", "--filter", "network=kind"),
        ("docker", "network", "rm", "kind"),
        (*kind.as_root(["tee", str(hosts)]),),
    ]
    assert rec.stdin[-1] == b"127.0.0.1 localhost\n"


def test_up_runs_every_step_in_order(rec: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[str] = []
    for name in (
        "create_cluster",
        "start_registry",
        "map_registry_name",
        "configure_nodes",
        "announce_registry",
        "wait_for_registry",
    ):
        monkeypatch.setattr(kind, name, lambda *args, name=name: steps.append(name))
    monkeypatch.setattr(kind, "pin", lambda key: f"pinned:{key}")
    kind.up(kind.ClusterSettings(), "upstream")
    assert steps == [
        "create_cluster",
        "start_registry",
        "map_registry_name",
        "configure_nodes",
        "announce_registry",
        "wait_for_registry",
    ]
    assert kind.node_image("upstream") == "pinned:KIND_NODE_IMAGE"


class _Registry(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/v2/" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        del format, args


def test_waiting_for_the_registry_returns_when_v2_answers() -> None:
    with loopback_http_server(_Registry) as url:
        kind.wait_for_registry(kind.ClusterSettings("ci", url.removeprefix("http://")), timeout=5)


def test_waiting_for_a_registry_that_never_answers_is_bounded() -> None:
    registry = f"127.0.0.1:{free_port()}"
    with pytest.raises(BuildError) as caught:
        kind.wait_for_registry(kind.ClusterSettings("ci", registry), timeout=1)
    assert str(caught.value) == (
        f"the registry did not answer at http://{registry}/v2/ within 1 s (docker logs 127.0.0.1)"
    )


def test_kubectl_prefers_the_one_built_for_the_node_image(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    built = tmp_path / "kubectl"
    kubernetes = SimpleNamespace(binary=lambda command: built)
    alone = SimpleNamespace(binary=lambda command: tmp_path / "alone" / "kubectl")
    monkeypatch.setattr(kind, "components", SimpleNamespace(KUBERNETES=kubernetes, KUBECTL=alone))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BuildError, match=r"^kubectl not found on PATH and not built yet"):
        kind.kubectl()
    built.write_text("")
    assert kind.kubectl() == str(built)


def test_kyverno_is_installed_from_its_module_chart_with_its_images_by_digest(
    rec: Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(kyverno, "module", lambda: tmp_path / "kyverno")
    monkeypatch.setattr(kyverno, "chart", lambda: tmp_path / "chart")
    digest = "sha256:" + "ab" * 32
    refs = {
        name: f"kind-registry:5000/kyverno/{name}@{digest}"
        for name in kyverno.CHART_IMAGES.values()
    }
    monkeypatch.setattr(kyverno, "build_images", lambda: refs)
    kyverno.install()
    crds = tmp_path / "kyverno" / "config" / "crds" / "policies.kyverno.io"
    assert rec.calls[0] == ("/bin/kubectl", "apply", "--server-side", "-f", str(crds))
    helm = rec.calls[1]
    assert helm[:11] == (
        "/tools/helm",
        "upgrade",
        "--install",
        "kyverno",
        str(tmp_path / "chart"),
        "--namespace",
        "kyverno",
        "--create-namespace",
        "--wait",
        "--timeout",
        "10m",
    )
    values = helm[12::2]
    assert set(helm[11::2]) == {"--set"}
    assert values[:11] == (
        "features.registryClient.allowInsecure=true",
        "admissionController.replicas=1",
        "features.backgroundScan.backgroundScanInterval=1m",
        "admissionController.container.resources.requests.cpu=10m",
        "backgroundController.resources.requests.cpu=10m",
        "cleanupController.resources.requests.cpu=10m",
        "reportsController.resources.requests.cpu=10m",
        "admissionController.initContainer.image.registry=kind-registry:5000",
        "admissionController.initContainer.image.repository=kyverno/kyverno-init",
        f"admissionController.initContainer.image.tag=v1.19.0@{digest}",
        "admissionController.initContainer.image.pullPolicy=IfNotPresent",
    )
    assert len(values) == 7 + 4 * len(kyverno.CHART_IMAGES)
    assert len(rec.calls) == 2


def test_the_kyverno_chart_copy_drops_the_dependencies_the_module_lacks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    module = tmp_path / "module"
    chart = module / "charts" / "kyverno"
    (chart / "templates").mkdir(parents=True)
    (chart / "templates" / "a.yaml").write_text("kind: ConfigMap\n")
    (chart / "Chart.lock").write_text("lock\n")
    (chart / "Chart.yaml").write_text(
        "name: kyverno\nversion: 3.9.0\ndependencies:\n"
        "  - name: grafana\n    condition: grafana.enabled\n"
        "  - name: kyverno-api\n  - name: openreports\n  - name: reports-server\n"
    )
    for path in (chart, chart / "templates", chart / "templates" / "a.yaml", chart / "Chart.yaml"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    monkeypatch.setattr(kyverno, "module", lambda: module)
    monkeypatch.setattr(kyverno, "cache_root", lambda: tmp_path / "cache")
    monkeypatch.setattr(kyverno, "pin", lambda key: "v1.19.0")
    target = kyverno.chart()
    assert target == tmp_path / "cache" / "cluster" / "kyverno-chart" / "v1.19.0" / "kyverno"
    assert (target / "Chart.yaml").read_text() == (
        "name: kyverno\nversion: 3.9.0\ndependencies:\n"
        "- name: grafana\n  condition: grafana.enabled\n"
    )
    assert not (target / "Chart.lock").exists()
    assert (target / "templates" / "a.yaml").read_text() == "kind: ConfigMap\n"
    assert kyverno.chart() == target  # the second call finds the copy


def test_add_ons_without_the_mesh_apply_only_istios_crds(
    rec: Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[str] = []
    monkeypatch.setattr(addons.kyverno, "install", lambda: seen.append("kyverno"))
    monkeypatch.setattr(addons, "module_dir", lambda module, version, log: tmp_path / "istio")

    def install_mesh() -> dict[str, str]:
        seen.append("istio")
        return {}

    monkeypatch.setattr(addons.mesh, "install", install_mesh)
    addons.install(mesh=False)
    crds = tmp_path / "istio" / "manifests" / "charts" / "base" / "files" / "crd-all.gen.yaml"
    kyverno_ready = (
        "/bin/kubectl",
        "wait",
        "--for=condition=Available",
        "--timeout=300s",
        "-n",
        "kyverno",
        "deployment",
        "--all",
    )
    assert seen == ["kyverno"]
    assert rec.calls == [
        ("/bin/kubectl", "version"),
        kyverno_ready,
        ("/bin/kubectl", "apply", "--server-side", "-f", str(crds)),
    ]
    rec.calls.clear()
    addons.install(mesh=True)
    assert seen == ["kyverno", "kyverno", "istio"]
    assert rec.calls == [
        ("/bin/kubectl", "version"),
        kyverno_ready,
        (
            "/bin/kubectl",
            "wait",
            "--for=condition=Available",
            "--timeout=300s",
            "-n",
            "istio-system",
            "deployment",
            "--all",
        ),
        (
            "/bin/kubectl",
            "rollout",
            "status",
            "--timeout=300s",
            "-n",
            "istio-system",
            "ds/istio-cni-node",
        ),
    ]
