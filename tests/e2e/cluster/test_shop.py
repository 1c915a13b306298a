"""The shop end to end through the ingress: register, sign in, order, see the order."""

from __future__ import annotations

import html
import re
import secrets
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext

import httpx
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

from tests.e2e.kube import PROPAGATION_TIMEOUT, ProbePod, Settings, port_forward
from tests.e2e.waiting import wait_for

pytestmark = pytest.mark.e2e

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
ORDER_KEY_RE = re.compile(r'name="order_key" value="([^"]+)"')
PRODUCT_RE = re.compile(r'href="/products/([0-9a-fA-F]{24})">([^<]+)</a>')


@pytest.fixture
def shop(kube: client.ApiClient, settings: Settings) -> Iterator[httpx.Client]:
    """A browser-like session against the storefront.

    Through the ingress gateway (Host header for its virtual host) where Istio runs; where it does
    not (the build machines' local cluster, no data plane yet), through a port-forward to the
    client-service Service, so the shop is still exercised end to end inside the cluster.
    """
    try:
        client.AppsV1Api(kube).read_namespaced_deployment("istio-ingressgateway", "istio-system")
        entry: AbstractContextManager[str] = nullcontext(settings.ingress_url)
        headers = {"Host": settings.ingress_host}
    except ApiException as exc:
        if exc.status != 404:
            raise
        entry = port_forward(settings.namespace, "service/client-service", 8080)
        headers = {}
    with (
        entry as base_url,
        httpx.Client(
            base_url=base_url, headers=headers, follow_redirects=True, timeout=10
        ) as session,
    ):
        yield session


def _csrf(page: httpx.Response) -> str:
    match = CSRF_RE.search(page.text)
    assert match, f"no CSRF field on {page.url}"
    return html.unescape(match.group(1))


# Runs inside the api-service container: the image's own admin CLI, with the password read from
# stdin into the pod's tmpfs /tmp (never on a command line), removed afterwards.
CREATE_ADMIN = """
import pathlib, sys
from api_service.cli import main
path = pathlib.Path("/tmp/e2e-admin-password")
path.write_text(sys.stdin.readline().strip())
try:
    code = main(["create-admin", "--email", sys.argv[1], "--password-file", str(path)])
finally:
    path.unlink()
sys.exit(code)
"""


def _create_admin(kube: client.ApiClient, settings: Settings) -> tuple[str, str]:
    """Bootstrap a throw-away admin with the api-service image's CLI (kubectl exec)."""
    core = client.CoreV1Api(kube)
    pods = core.list_namespaced_pod(
        settings.namespace, label_selector="app.kubernetes.io/name=api-service"
    ).items
    running = [p for p in pods if p.status.phase == "Running"]
    assert running, f"no running api-service pod in {settings.namespace}"
    email = f"e2e-admin-{uuid.uuid4().hex[:12]}@example.com"
    password = secrets.token_urlsafe(24)
    session = stream(
        core.connect_get_namespaced_pod_exec,
        running[0].metadata.name,
        settings.namespace,
        container="api-service",
        command=["python3", "-c", CREATE_ADMIN, email],
        stdin=True,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
    )
    session.write_stdin(password + "\n")
    session.run_forever(timeout=60)
    assert session.returncode == 0, f"create-admin failed: {session.read_all()}"
    return email, password


def _ensure_product(
    kube: client.ApiClient, probes: dict[str, ProbePod], settings: Settings
) -> None:
    """Seed one product through the API as an admin (the configured one, or a new one)."""
    if settings.admin_email and settings.admin_password_file:
        email = settings.admin_email
        password = settings.admin_password_file.read_text().strip()
    else:
        email, password = _create_admin(kube, settings)
    pod = probes["client"]
    login = pod.http(
        settings.api_url("/auth/login"), "POST", body={"email": email, "password": password}
    )
    assert login.status == 200, login
    token = httpx.Response(200, content=login.body).json()["token"]
    product = {
        "name": f"E2E mug {uuid.uuid4().hex[:6]}",
        "description": "e2e",
        "price": 1299,
        "stock": 5,
    }
    created = pod.http(
        settings.api_url("/products"),
        "POST",
        headers={"Authorization": f"Bearer {token}"},
        body=product,
    )
    assert created.status == 201, created


def test_register_sign_in_order_and_see_the_order(
    shop: httpx.Client,
    kube: client.ApiClient,
    probes: dict[str, ProbePod],
    settings: Settings,
) -> None:
    _ensure_product(kube, probes, settings)
    home = wait_for(
        lambda: (r if (r := shop.get("/")).status_code == 200 else None),
        what="the storefront answers",
        timeout=PROPAGATION_TIMEOUT,
        retry_on=(httpx.TransportError,),
    )
    products = PRODUCT_RE.findall(home.text)
    assert products, "the storefront lists no product although one was just seeded"
    product_id, product_name = products[0]

    email = f"e2e-{uuid.uuid4().hex[:12]}@example.com"
    password = f"e2e-{uuid.uuid4().hex}"
    form = shop.get("/register")
    registered = shop.post(
        "/register", data={"email": email, "password": password, "csrf_token": _csrf(form)}
    )
    assert registered.status_code == 200
    assert email in registered.text

    shop.cookies.clear()  # sign in again from scratch
    signin = shop.get("/signin")
    signed_in = shop.post(
        "/signin", data={"email": email, "password": password, "csrf_token": _csrf(signin)}
    )
    assert signed_in.status_code == 200
    assert email in signed_in.text

    page = shop.get(f"/products/{product_id}")
    key = ORDER_KEY_RE.search(page.text)
    assert key, f"no order key field on {page.url}"
    ordered = shop.post(
        "/orders",
        data={
            "product_id": product_id,
            "qty": "1",
            "csrf_token": _csrf(page),
            "order_key": key.group(1),
        },
    )
    assert ordered.status_code == 200
    assert str(ordered.url).endswith("/orders")
    assert "Order placed: 1 x" in html.unescape(ordered.text)
    assert html.unescape(product_name) in html.unescape(shop.get("/orders").text)
