"""The cluster helpers of tests/e2e, checked without a cluster."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import free_port
from tests.e2e import kube
from tests.e2e.kube import PROBE_LABEL, ProbeResult, Settings, connect, probe_pod_manifest


def test_settings_default_to_the_kind_deployment() -> None:
    settings = Settings.from_env({})
    assert settings.namespace == "microshop"
    assert settings.outside_namespace == "microshop-e2e-outside"
    assert settings.mongodb_uri == "mongodb://mongodb.microshop.svc:27017/"
    assert settings.api_url("/health") == "http://api-service.microshop.svc:8000/health"
    assert settings.admin_password_file is None


def test_settings_follow_the_environment() -> None:
    settings = Settings.from_env(
        {
            "E2E_NAMESPACE": "shop",
            "E2E_INGRESS_URL": "http://127.0.0.1:9090/",
            "E2E_ADMIN_PASSWORD_FILE": "/run/admin",
            "E2E_API_SA": "api-sa",
        }
    )
    assert (settings.namespace, settings.ingress_url, settings.api_sa) == (
        "shop",
        "http://127.0.0.1:9090",
        "api-sa",
    )
    assert settings.admin_password_file == Path("/run/admin")
    assert settings.mongodb_uri == "mongodb://mongodb.shop.svc:27017/"


def test_probe_result_reads_the_probe_line_among_other_output() -> None:
    output = 'warning: x\nPROBE {"status": 403, "body": "RBAC: access denied"}\n'
    assert ProbeResult.parse(output) == ProbeResult(403, "RBAC: access denied", None)
    failed = ProbeResult.parse('PROBE {"error": "URLError: reset"}')
    assert (failed.status, failed.error) == (None, "URLError: reset")


def test_probe_result_without_a_probe_line_is_an_error_of_the_probe() -> None:
    result = ProbeResult.parse("Traceback (most recent call last): boom")
    assert result.status is None
    assert result.error is not None
    assert result.error.startswith("probe printed no result")


def test_probe_pods_meet_the_restricted_bar_and_never_become_ready() -> None:
    pod = probe_pod_manifest(
        "p",
        "r/api@sha256:" + "0" * 64,
        "client-service",
        {"app.kubernetes.io/name": "client-service"},
    )
    spec = pod["spec"]
    container = spec["containers"][0]
    assert pod["metadata"]["labels"] == {
        "app.kubernetes.io/name": "client-service",
        PROBE_LABEL: "true",
    }
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["readinessProbe"]["exec"]["command"][-1] == "raise SystemExit(1)"
    assert pod["metadata"]["annotations"] == {}


def test_a_probe_pod_can_opt_out_of_the_sidecar() -> None:
    pod = probe_pod_manifest(
        "p", "r/api@sha256:" + "0" * 64, "client-service", {}, {"sidecar.istio.io/inject": "false"}
    )
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}


def _status(name: str, *, running: bool = True, ready: bool = True) -> SimpleNamespace:
    state = SimpleNamespace(running=object() if running else None)
    return SimpleNamespace(name=name, state=state, ready=ready)


@pytest.mark.parametrize(
    ("phase", "containers", "init", "started"),
    [
        ("Running", [_status("probe", ready=False)], [], True),
        ("Running", [_status("probe", ready=False)], [_status("istio-proxy")], True),
        ("Running", [_status("probe")], [_status("istio-proxy", ready=False)], False),
        ("Running", [_status("probe", running=False)], [], False),
        ("Pending", [_status("probe")], [], False),
    ],
)
def test_a_probe_pod_has_started_when_its_probe_runs_and_its_sidecar_is_ready(
    phase: str, containers: list[SimpleNamespace], init: list[SimpleNamespace], started: bool
) -> None:
    pod = SimpleNamespace(
        status=SimpleNamespace(
            phase=phase, container_statuses=containers, init_container_statuses=init
        )
    )
    assert kube._started(pod) is started


def test_no_kubeconfig_gives_one_line_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    reason = connect()
    assert reason == (
        "no cluster configured: no kubeconfig (KUBECONFIG, ~/.kube/config) and not in a pod"
    )


def test_an_unreachable_api_server_gives_one_line_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: k, cluster: {{server: 'https://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(config))
    reason = connect(timeout=2)
    assert isinstance(reason, str)
    assert reason.startswith(f"no cluster reachable at https://127.0.0.1:{port}: ")
    assert "\n" not in reason


def test_eventually_insists_that_the_result_holds_twice() -> None:
    answers = iter([ProbeResult(200), ProbeResult(403)])
    with pytest.raises(AssertionError, match="held once, then not"):
        kube.eventually(lambda: next(answers), lambda r: r.status == 200, "client -> api")


def test_eventually_returns_the_confirmed_result() -> None:
    answers = iter([ProbeResult(403, "RBAC: access denied"), ProbeResult(403, "again")])
    result = kube.eventually(lambda: next(answers), lambda r: r.status == 403, "denied")
    assert result == ProbeResult(403, "again")
