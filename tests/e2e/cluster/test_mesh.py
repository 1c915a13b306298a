"""Istio zero trust: STRICT mTLS, AuthorizationPolicies by identity, and JWT on /orders."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwt
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.e2e.kube import PROPAGATION_TIMEOUT, ProbePod, ProbeResult, Settings, eventually
from tests.e2e.waiting import wait_for

pytestmark = pytest.mark.e2e

OK = 200
NO_MESH = (
    "no Istio control plane in this cluster: the build machines' local cluster has Istio's CRDs "
    "only until it gets a data plane (the mesh issue); GitHub's kind run installs Istio"
)


@pytest.fixture(autouse=True, scope="module")
def _mesh(kube: client.ApiClient) -> None:
    """Skip the whole module, in one line, where Istio is not installed."""
    try:
        client.AppsV1Api(kube).read_namespaced_deployment("istiod", "istio-system")
    except ApiException as exc:
        if exc.status == 404:
            pytest.skip(NO_MESH)
        raise


def _status(expected: int) -> Callable[[ProbeResult], bool]:
    return lambda r: r.status == expected


def _connection_fails(result: ProbeResult) -> bool:
    return result.error is not None


def test_peer_authentication_in_the_namespace_is_strict(
    kube: client.ApiClient, settings: Settings
) -> None:
    custom = client.CustomObjectsApi(kube)
    items = custom.list_namespaced_custom_object(
        "security.istio.io", "v1", settings.namespace, "peerauthentications"
    )["items"]
    modes = {item["metadata"]["name"]: item["spec"]["mtls"]["mode"] for item in items}
    assert modes == {"default": "STRICT"}


def test_plain_text_from_a_namespace_without_sidecars_fails(
    probes: dict[str, ProbePod], settings: Settings
) -> None:
    outside = probes["outside"]
    eventually(
        lambda: outside.http(settings.api_url("/health")),
        _connection_fails,
        "plain-text request from outside the mesh refused",
    )


def test_plain_text_that_the_network_policy_allows_is_refused_by_strict_mtls(
    probes: dict[str, ProbePod], settings: Settings
) -> None:
    # client-service's labels and identity, but no sidecar: the NetworkPolicy lets the packets
    # through, so the refusal can only come from api-service's sidecar requiring mTLS.
    plain = probes["plain"]
    eventually(
        lambda: plain.http(settings.api_url("/health")),
        _connection_fails,
        "plain-text request without a sidecar refused by PeerAuthentication STRICT",
    )


def test_the_same_request_from_inside_the_mesh_succeeds(
    probes: dict[str, ProbePod], settings: Settings
) -> None:
    client_pod = probes["client"]
    result = eventually(
        lambda: client_pod.http(settings.api_url("/health")),
        _status(OK),
        "client-service identity reaches api-service over mTLS",
    )
    assert result.error is None


def test_client_identity_may_call_the_api(probes: dict[str, ProbePod], settings: Settings) -> None:
    eventually(
        lambda: probes["client"].http(settings.api_url("/products")),
        _status(OK),
        "client-service -> api-service /products allowed",
    )


def test_another_service_account_gets_403_from_the_api(
    probes: dict[str, ProbePod], settings: Settings
) -> None:
    result = eventually(
        lambda: probes["other"].http(settings.api_url("/products")),
        _status(403),
        "another ServiceAccount -> api-service denied by the mesh",
    )
    assert "RBAC: access denied" in result.body


def test_api_identity_may_reach_mongodb(probes: dict[str, ProbePod], settings: Settings) -> None:
    eventually(
        lambda: probes["api"].mongo_ping(settings.mongodb_uri),
        _status(0),
        "api-service -> MongoDB ping allowed",
    )


def test_client_identity_may_not_reach_mongodb(
    probes: dict[str, ProbePod], settings: Settings
) -> None:
    eventually(
        lambda: probes["client"].mongo_ping(settings.mongodb_uri),
        _connection_fails,
        "client-service -> MongoDB denied",
    )


def _register(pod: ProbePod, settings: Settings) -> str:
    email = f"e2e-{uuid.uuid4().hex[:12]}@example.com"
    body = {"email": email, "password": f"e2e-{uuid.uuid4().hex}"}
    # Not idempotent, so no "holds twice" check: one bounded wait for the first 201.
    wait_for(
        lambda: (
            r
            if (r := pod.http(settings.api_url("/auth/register"), "POST", body=body)).status == 201
            else None
        ),
        what="register through the mesh",
        timeout=PROPAGATION_TIMEOUT,
        retry_on=(ApiException,),
    )
    login = pod.http(settings.api_url("/auth/login"), "POST", body=body)
    assert login.status == OK, login
    return str(json.loads(login.body)["token"])


def _forge(real_token: str) -> str:
    """The same claims as a real token, signed by a key the api-service never issued."""
    claims = jwt.get_unverified_claims(real_token)
    header = jwt.get_unverified_header(real_token)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    claims["exp"] = int(time.time()) + 600
    return str(jwt.encode(claims, pem, algorithm="ES256", headers={"kid": header.get("kid", "x")}))


def test_orders_without_a_token_are_denied_at_the_edge(
    probes: dict[str, ProbePod], settings: Settings
) -> None:
    eventually(
        lambda: probes["client"].http(settings.api_url("/orders/me")),
        _status(403),
        "/orders/me without a token denied by the mesh",
    )


def test_orders_with_a_forged_token_get_401(
    probes: dict[str, ProbePod], settings: Settings
) -> None:
    pod = probes["client"]
    forged = _forge(_register(pod, settings))
    eventually(
        lambda: pod.http(
            settings.api_url("/orders/me"), headers={"Authorization": f"Bearer {forged}"}
        ),
        _status(401),
        "/orders/me with a forged token rejected by RequestAuthentication",
    )


def test_orders_with_a_real_token_from_login_succeed(
    probes: dict[str, ProbePod], settings: Settings
) -> None:
    pod = probes["client"]
    token = _register(pod, settings)
    result = eventually(
        lambda: pod.http(
            settings.api_url("/orders/me"), headers={"Authorization": f"Bearer {token}"}
        ),
        _status(OK),
        "/orders/me with a token from /auth/login",
    )
    assert json.loads(result.body) == []
