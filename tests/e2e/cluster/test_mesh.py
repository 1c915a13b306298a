"""Istio zero trust: STRICT mTLS, AuthorizationPolicies by identity, and JWT on /orders.

Every refusal is asserted by its kind (a reset, Envoy's RBAC or jwt_authn body), and the STRICT
test has a positive control: the same plain-text probe is accepted by a PERMISSIVE namespace
and reset once that namespace is made STRICT, as istio.io's mTLS migration task checks it.
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jose import jwt
from kubernetes import client
from kubernetes.client.rest import ApiException

from microshop_ci.gha.images import Image
from tests.e2e.kube import (
    PROPAGATION_TIMEOUT,
    ProbePod,
    ProbeResult,
    Settings,
    eventually,
    probe_pod_manifest,
)
from tests.e2e.waiting import wait_for

pytestmark = pytest.mark.e2e

OK = 200
NO_MESH = "no Istio control plane in this cluster (scripts/install-cluster-addons --no-mesh)"
CONTROL_NAMESPACE_SUFFIX = "-e2e-mesh-control"
# What Envoy answers (upstream Envoy's RBAC and jwt_authn filters, as istiod configures them).
RBAC_DENIED = "RBAC: access denied"
# A plain-text request to a STRICT port: the sidecar accepts the TCP connection, finds no TLS
# and closes it, so Python's client sees the connection end (never a timeout or a DNS error).
RESET_ERRORS = ("ConnectionResetError", "RemoteDisconnected")


@pytest.fixture(autouse=True, scope="module")
def _mesh(kube: client.ApiClient) -> None:
    """Skip the whole module, in one line, where Istio is not installed (fail under
    scripts/e2e --require-cluster: the kind runs install the mesh)."""
    try:
        client.AppsV1Api(kube).read_namespaced_deployment("istiod", "istio-system")
    except ApiException as exc:
        if exc.status == 404:
            if os.environ.get("E2E_REQUIRE_CLUSTER") == "1":
                pytest.fail(f"E2E_REQUIRE_CLUSTER=1 but {NO_MESH}")
            pytest.skip(NO_MESH)
        raise


def _status(expected: int) -> Callable[[ProbeResult], bool]:
    return lambda r: r.status == expected


def _reset(result: ProbeResult) -> bool:
    return result.error is not None and result.error.startswith(RESET_ERRORS)


def _denied_by_rbac(result: ProbeResult) -> bool:
    return result.status == 403 and result.body == RBAC_DENIED


def test_peer_authentication_in_the_namespace_is_strict(
    kube: client.ApiClient, settings: Settings
) -> None:
    custom = client.CustomObjectsApi(kube)
    items = custom.list_namespaced_custom_object(
        "security.istio.io", "v1", settings.namespace, "peerauthentications"
    )["items"]
    modes = {item["metadata"]["name"]: item["spec"]["mtls"]["mode"] for item in items}
    assert modes == {"default": "STRICT"}


def test_plain_text_that_the_network_policy_allows_is_reset_by_strict_mtls(
    probes: dict[str, ProbePod], settings: Settings
) -> None:
    # client-service's labels and identity, but no sidecar: the NetworkPolicy lets the packets
    # through, so the reset can only come from api-service's sidecar requiring mTLS.
    plain = probes["plain"]
    result = eventually(
        lambda: plain.http(settings.api_url("/health")),
        _reset,
        "plain-text request without a sidecar reset by PeerAuthentication STRICT",
    )
    assert result.status is None


@pytest.fixture(scope="module")
def control(
    core: client.CoreV1Api, kube: client.ApiClient, settings: Settings, images: dict[str, Image]
) -> Iterator[tuple[str, ProbePod, client.CustomObjectsApi]]:
    """A meshed namespace without a PeerAuthentication (so PERMISSIVE, Istio's default): a meshed
    HTTP server and a plain-text probe without a sidecar. Yields the server's URL and the probe."""
    ns = settings.namespace + CONTROL_NAMESPACE_SUFFIX
    labels = {"istio-injection": "enabled"}
    core.create_namespace({"metadata": {"name": ns, "labels": labels}})
    try:
        image = images["api-service"].ref
        name = "app.kubernetes.io/name"
        server = probe_pod_manifest(
            "e2e-mesh-server",
            image,
            "default",
            {name: "e2e-mesh-server"},
            command=["python3", "-m", "http.server", "8080", "--directory", "/"],
        )
        no_sidecar = {"sidecar.istio.io/inject": "false"}
        plain = probe_pod_manifest(
            "e2e-mesh-plain", image, "default", {name: "e2e-mesh-plain", **no_sidecar}, no_sidecar
        )
        for manifest in (server, plain):
            core.create_namespaced_pod(ns, manifest)
        ProbePod(core, ns, "e2e-mesh-server").wait_started()
        probe = ProbePod(core, ns, "e2e-mesh-plain")
        probe.wait_started()
        ip = core.read_namespaced_pod("e2e-mesh-server", ns).status.pod_ip
        yield f"http://{ip}:8080/", probe, client.CustomObjectsApi(kube)
    finally:
        core.delete_namespace(ns)


def test_strict_mtls_resets_plain_text_that_permissive_accepted(
    control: tuple[str, ProbePod, client.CustomObjectsApi], settings: Settings
) -> None:
    url, plain, custom = control
    accepted = eventually(
        lambda: plain.http(url), _status(OK), "PERMISSIVE: plain text reaches a meshed server"
    )
    assert accepted.error is None
    strict = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": {"name": "default"},
        "spec": {"mtls": {"mode": "STRICT"}},
    }
    ns = settings.namespace + CONTROL_NAMESPACE_SUFFIX
    custom.create_namespaced_custom_object(
        "security.istio.io", "v1", ns, "peerauthentications", strict
    )
    result = eventually(
        lambda: plain.http(url), _reset, "STRICT: the same plain-text request is reset"
    )
    assert result.status is None


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
    eventually(
        lambda: probes["other"].http(settings.api_url("/products")),
        _denied_by_rbac,
        "another ServiceAccount -> api-service denied by the mesh",
    )


def test_api_identity_may_reach_mongodb(probes: dict[str, ProbePod], settings: Settings) -> None:
    eventually(
        lambda: probes["api"].mongo_ping(settings.mongodb_uri),
        _status(0),
        "api-service -> MongoDB ping allowed",
    )


def test_api_labels_under_another_identity_may_not_reach_mongodb(
    probes: dict[str, ProbePod], settings: Settings
) -> None:
    # api-service's labels, so the NetworkPolicy lets the packets reach MongoDB's sidecar; the
    # ServiceAccount is another, so only the AuthorizationPolicy (by principal) can refuse it.
    result = eventually(
        lambda: probes["impostor"].mongo_ping(settings.mongodb_uri),
        lambda r: r.error is not None,
        "api-service labels, another ServiceAccount -> MongoDB refused by the mesh",
    )
    assert result.error is not None
    assert result.error.startswith("ServerSelectionTimeoutError"), result.error
    assert "connection closed" in result.error or "reset by peer" in result.error, result.error


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


def _reissue(real_token: str, pem: str, **changes: Any) -> str:
    """The claims of a real token with changes, signed with pem under the real token's kid."""
    claims = {**jwt.get_unverified_claims(real_token), "exp": int(time.time()) + 600, **changes}
    header = jwt.get_unverified_header(real_token)
    return str(jwt.encode(claims, pem, algorithm=header["alg"], headers={"kid": header["kid"]}))


def _forge(real_token: str) -> str:
    """The same claims as a real token, signed by a key the api-service never issued."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return _reissue(real_token, pem)


@pytest.fixture(scope="module")
def signing_key(core: client.CoreV1Api, settings: Settings) -> str:
    """api-service's real signing key (the deploy-time Secret): tokens the mesh must still refuse
    for their claims, not their signature."""
    secret = core.read_namespaced_secret("api-service-jwt", settings.namespace)
    return base64.b64decode(secret.data["jwt-private-key.pem"]).decode()


@pytest.fixture(scope="module")
def real_token(probes: dict[str, ProbePod], settings: Settings) -> str:
    return _register(probes["client"], settings)


def test_orders_without_a_token_get_403_from_the_mesh_rbac(
    probes: dict[str, ProbePod], settings: Settings
) -> None:
    eventually(
        lambda: probes["client"].http(settings.api_url("/orders/me")),
        _denied_by_rbac,
        "/orders/me without a token denied by the mesh",
    )


@pytest.mark.parametrize(
    ("case", "expected_status", "expected_body"),
    [
        ("forged", 401, "Jwt verification fails"),
        ("expired", 401, "Jwt is expired"),
        # Envoy's jwt_authn answers an audience mismatch with 403, the other failures with 401.
        ("wrong-aud", 403, "Audiences in Jwt are not allowed"),
        ("wrong-iss", 401, "Jwt issuer is not configured"),
    ],
)
def test_orders_with_a_bad_token_are_refused_naming_why(
    probes: dict[str, ProbePod],
    settings: Settings,
    real_token: str,
    signing_key: str,
    case: str,
    expected_status: int,
    expected_body: str,
) -> None:
    tokens = {
        "forged": lambda: _forge(real_token),
        "expired": lambda: _reissue(real_token, signing_key, exp=int(time.time()) - 3600),
        "wrong-aud": lambda: _reissue(real_token, signing_key, aud="someone-else"),
        "wrong-iss": lambda: _reissue(real_token, signing_key, iss="https://evil.example"),
    }
    token = tokens[case]()
    result = eventually(
        lambda: probes["client"].http(
            settings.api_url("/orders/me"), headers={"Authorization": f"Bearer {token}"}
        ),
        _status(expected_status),
        f"/orders/me with a {case} token rejected by RequestAuthentication",
    )
    assert result.body == expected_body


def test_a_token_signed_with_the_real_key_and_right_claims_is_accepted(
    probes: dict[str, ProbePod], settings: Settings, real_token: str, signing_key: str
) -> None:
    # The positive control of the four refusals above: the same re-signing, no bad claim.
    token = _reissue(real_token, signing_key)
    eventually(
        lambda: probes["client"].http(
            settings.api_url("/orders/me"), headers={"Authorization": f"Bearer {token}"}
        ),
        _status(OK),
        "/orders/me with a re-signed token that has the right claims",
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
