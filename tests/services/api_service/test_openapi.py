"""The API against its own OpenAPI: schemathesis generates requests for every route (bounded).

The app runs in this process (uvicorn in a thread, the real FerretDB fixture, its own database)
and is called over loopback as an admin, so every route is reached past its auth check. Checks:
no 5xx, no status the route does not document, every response matches its documented schema,
content type and headers.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from pymongo import MongoClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api_service.config import Settings
from api_service.main import create_app
from tests.conftest import free_port

ADMIN_EMAIL = "openapi-admin@example.com"
ADMIN_PASSWORD = "openapi-admin-password"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]
EXAMPLES_PER_ROUTE = 25


@dataclass
class LiveApi:
    """The running app, an admin's headers, and what the run saw."""

    url: str
    openapi: dict[str, object]
    admin: dict[str, str]
    statuses: Counter[int] = field(default_factory=Counter)
    operations: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def live_api(
    mongodb_uri: str, signing_key_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApi]:
    """The app under uvicorn in a thread of this process, on a database of its own."""
    password_file = tmp_path_factory.mktemp("openapi") / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    app_settings = Settings(
        mongodb_uri=mongodb_uri,
        mongodb_database=f"o_{uuid.uuid4().hex[:12]}",
        jwt_private_key_file=signing_key_file,
        admin_email=ADMIN_EMAIL,
        admin_password_file=password_file,
        log_level="WARNING",
        # Generated logins fail a lot: a high limit keeps the rest of the run reachable (429
        # is still documented and checked where it happens).
        login_failures_before_backoff=1_000_000,
        login_client_failures_before_backoff=1_000_000,
        login_account_failures_before_backoff=1_000_000,
        register_max_per_client=1_000_000,
    )
    app = create_app(app_settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the app did not start within 60 s")
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            login = client.post(
                "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
            assert login.status_code == 200, login.text
            product = client.post(
                "/products",
                json={"name": "Seed", "price": 100, "stock": 1000},
                headers={"Authorization": f"Bearer {login.json()['token']}"},
            )
            assert product.status_code == 201, product.text
            live = LiveApi(
                url,
                client.get("/openapi.json").json(),
                {"Authorization": f"Bearer {login.json()['token']}"},
            )
        yield live
        total = sum(live.statuses.values())
        documented = sum(
            len(methods)
            for methods in live.openapi["paths"].values()  # type: ignore[attr-defined]
        )
        print(  # the figures of the run, shown with -s
            f"\nopenapi run: {documented} documented operations, {len(live.operations)} method"
            f" and path pairs called, {total} requests,"
            f" statuses {dict(sorted(live.statuses.items()))}"
        )
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        client_db: MongoClient[dict[str, object]] = MongoClient(mongodb_uri)
        client_db.drop_database(app_settings.mongodb_database)
        client_db.close()


@pytest.fixture(scope="module")
def api_schema(live_api: LiveApi) -> schemathesis.BaseSchema:
    """The app's own OpenAPI document, as it serves it."""
    return schemathesis.openapi.from_dict(live_api.openapi)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.timeout(600)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_ROUTE,
    deadline=None,  # the database is real and the machine shared: bound by count and timeout
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
def test_every_route_keeps_its_openapi_promises(case: schemathesis.Case, live_api: LiveApi) -> None:
    response = case.call(base_url=live_api.url, headers=live_api.admin, timeout=30)
    live_api.statuses[response.status_code] += 1
    live_api.operations.add(f"{case.method.upper()} {case.path}")
    case.validate_response(response, checks=CHECKS)
