"""What the rendered manifests promise: RBAC, identities, pod hardening, mesh and network rules."""

from __future__ import annotations

from typing import Any

import pytest

from microshop_ci.core.errors import UsageError
from microshop_ci.k8s import common, overlay

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")


@pytest.fixture(scope="module", params=["kind", "production"])
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return overlay.documents(overlay.build(request.param))


def _of(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_the_api_service_account_may_get_pods_and_nothing_else(docs: list[dict[str, Any]]) -> None:
    """The original MicroShop's `api-sa` check (can get pods, cannot delete them), statically:
    `api-sa` is `api-service` here (one name everywhere)."""
    assert [r["metadata"]["name"] for r in _of(docs, "Role")] == ["api-service-pod-reader"]
    assert _of(docs, "Role")[0]["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}
    ]
    (binding,) = _of(docs, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "api-service-pod-reader",
    }  # fmt: skip
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "api-service", "namespace": "microshop"}
    ]
    assert _of(docs, "ClusterRole") == []
    assert _of(docs, "ClusterRoleBinding") == []


def test_one_name_everywhere_and_no_token_is_mounted(docs: list[dict[str, Any]]) -> None:
    accounts = {a["metadata"]["name"]: a for a in _of(docs, "ServiceAccount")}
    assert sorted(accounts) == ["api-service", "client-service", "mongodb"]
    assert all(a["automountServiceAccountToken"] is False for a in accounts.values())
    for name in accounts:
        (service,) = [s for s in _of(docs, "Service") if s["metadata"]["name"] == name]
        assert service["spec"]["selector"] == {"app.kubernetes.io/name": name}
    for workload in [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]:
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]
        assert pod["metadata"]["labels"]["app.kubernetes.io/name"] == name
        assert pod["spec"]["serviceAccountName"] == name
        assert pod["spec"]["automountServiceAccountToken"] is False


def test_every_container_is_hardened_and_probed(docs: list[dict[str, Any]]) -> None:
    for workload in [d for d in docs if d["kind"] in WORKLOAD_KINDS]:
        spec = workload["spec"]["template"]["spec"]
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in spec.get("initContainers", []) + spec["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["runAsUser"] in (65532, 999)
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert set(container["resources"]) == {"requests", "limits"}
        if workload["kind"] != "Job":
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                assert probe in spec["containers"][0], (workload["metadata"]["name"], probe)


def test_no_secret_value_is_in_the_manifests(docs: list[dict[str, Any]]) -> None:
    assert _of(docs, "Secret") == []
    (namespace,) = _of(docs, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_network_policies_deny_by_default_then_allow_the_shops_flows(
    docs: list[dict[str, Any]],
) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in _of(docs, "NetworkPolicy")}
    assert policies["default-deny-all"] == {
        "podSelector": {}, "policyTypes": ["Ingress", "Egress"],
    }  # fmt: skip
    assert {
        "allow-dns-egress", "allow-client-service-to-api-service",
        "allow-api-service-from-client-service", "allow-api-service-to-mongodb",
        "allow-mongodb-from-api-service-and-members",
    } <= set(policies)  # fmt: skip


def test_both_overlays_are_the_same_zero_trust_mesh_and_only_kind_serves_plain_http() -> None:
    production = overlay.documents(overlay.build("production"))
    kind = overlay.documents(overlay.build("kind"))
    (peer,) = _of(production, "PeerAuthentication")
    assert peer["spec"] == {"mtls": {"mode": "STRICT"}}
    rules = {p["metadata"]["name"]: p["spec"] for p in _of(production, "AuthorizationPolicy")}
    assert rules["deny-all"] == {}
    principals = {
        name: spec["rules"][0]["from"][0]["source"].get("principals")
        for name, spec in rules.items()
        if spec.get("action") == "ALLOW"
    }
    assert principals == {
        "allow-client-service-to-api-service": ["cluster.local/ns/microshop/sa/client-service"],
        "allow-api-service-to-mongodb": [
            "cluster.local/ns/microshop/sa/api-service", "cluster.local/ns/microshop/sa/mongodb",
        ],
        "allow-ingressgateway-to-client-service": [
            "cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
        ],
    }  # fmt: skip
    assert rules["require-jwt-on-orders"]["rules"][0]["from"] == [
        {"source": {"notRequestPrincipals": ["*"]}}
    ]
    assert [s["spec"]["replicas"] for s in _of(production, "StatefulSet")] == [3]
    # kind runs the same mesh rules (the kind-e2e workflow tests them) ...
    assert [p["spec"] for p in _of(kind, "PeerAuthentication")] == [{"mtls": {"mode": "STRICT"}}]
    kind_rules = {p["metadata"]["name"]: p["spec"] for p in _of(kind, "AuthorizationPolicy")}
    assert kind_rules == rules
    # ... behind a gateway without a certificate: plain HTTP, no redirect; production is HTTPS.
    (kind_gateway,) = _of(kind, "Gateway")
    assert [s["port"]["protocol"] for s in kind_gateway["spec"]["servers"]] == ["HTTP"]
    assert "tls" not in kind_gateway["spec"]["servers"][0]
    (gateway,) = _of(production, "Gateway")
    assert [s["port"]["protocol"] for s in gateway["spec"]["servers"]] == ["HTTPS", "HTTP"]
    assert gateway["spec"]["servers"][1]["tls"] == {"httpsRedirect": True}
    assert [s["spec"]["replicas"] for s in _of(kind, "StatefulSet")] == [1]


def _env(docs: list[dict[str, Any]], deployment: str) -> dict[str, str]:
    (workload,) = [d for d in _of(docs, "Deployment") if d["metadata"]["name"] == deployment]
    env = workload["spec"]["template"]["spec"]["containers"][0]["env"]
    return {e["name"]: e.get("value", "(from secret)") for e in env}


def test_the_contract_env_is_set_and_cookies_are_secure_outside_kind() -> None:
    production = overlay.documents(overlay.build("production"))
    kind = overlay.documents(overlay.build("kind"))
    assert _env(production, "client-service")["COOKIE_SECURE"] == "true"
    assert _env(kind, "client-service")["COOKIE_SECURE"] == "false"
    assert _env(kind, "client-service")["API_BASE_URL"] == "http://api-service:8000"
    api = _env(production, "api-service")
    assert api["MONGODB_URI"] == "(from secret)"
    assert api["JWT_PRIVATE_KEY_FILE"] == "/var/run/secrets/microshop/jwt/jwt-private-key.pem"
    assert (api["JWT_ISSUER"], api["JWT_AUDIENCE"], api["PORT"]) == (
        "microshop-api",
        "microshop",
        "8000",
    )


def test_forwarded_addresses_are_trusted_only_from_peers_a_policy_restricts() -> None:
    mesh_only = "127.0.0.1,127.0.0.6"  # the sidecar (AuthorizationPolicy) and port-forwards
    with_pods = f"{mesh_only},10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
    production = overlay.documents(overlay.build("production"))  # mesh + NetworkPolicies
    kind = overlay.documents(overlay.build("kind"))  # mesh + NetworkPolicies + ingress-nginx
    assert _env(production, "api-service")["FORWARDED_ALLOW_IPS"] == with_pods
    assert _env(production, "client-service")["FORWARDED_ALLOW_IPS"] == mesh_only
    assert _env(kind, "api-service")["FORWARDED_ALLOW_IPS"] == with_pods
    assert _env(kind, "client-service")["FORWARDED_ALLOW_IPS"] == with_pods


def test_an_unknown_overlay_or_component_names_the_known_ones() -> None:
    with pytest.raises(UsageError) as caught:
        common.overlay_dir("staging")
    assert str(caught.value) == f"unknown overlay 'staging' (known: {', '.join(common.overlays())})"
    assert common.component_dir("ferretdb") == common.K8S_DIR / "components" / "ferretdb"
    known = sorted(p.name for p in (common.K8S_DIR / "components").iterdir() if p.is_dir())
    assert "ferretdb" in known
    with pytest.raises(UsageError) as caught:
        common.component_dir("linkerd")
    assert str(caught.value) == f"unknown component 'linkerd' (known: {', '.join(known)})"
