"""The API against its own OpenAPI: schemathesis, every check, in-process over ASGI, on FerretDB.

The app runs inside schemathesis's ASGI client (its lifespan and every request on one event loop,
so the app's async MongoDB client works), on a database of its own, and every request carries an
admin's bearer token, so each operation is reached past its auth check (the `ignored_auth` check
sends requests without it too). POST /orders is sent with the generated Idempotency-Key; a key
the run already sent with another body is replaced by a new one (Run.fresh_key). All of
schemathesis's checks are on: no 5xx, only documented statuses, headers and bodies,
schema-valid requests accepted, schema-invalid ones refused, 405s with a complete `Allow` header,
and the stateful ones (links between operations). The run is derandomized, with a fixed seed and
a fixed number of examples per operation.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pymongo import MongoClient
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.generation.case import Case as GenericCase
from schemathesis.python import asgi

from api_service.api.ordering import HEADER, KEY_PATTERN
from api_service.config import Settings
from api_service.main import create_app

ADMIN_EMAIL = "openapi-admin@example.com"
ADMIN_PASSWORD = "openapi-admin-password"
EXAMPLES_PER_OPERATION = 25
STATEFUL_SCENARIOS = 10
STATEFUL_STEPS = 10
Case = GenericCase[Any]  # whichever operation it was generated for
# The schemathesis CLI's `--checks all --max-examples 25 --seed 20251206`, as a configuration.
CONFIG = {
    "seed": 20251206,
    "checks": {
        "enabled": True,
        # A conditional write (If-Match) is refused by state, like a 404 or a 409: 412 for a
        # version that is not the current one, 428 for a stock write that names none.
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", 401, 403, 404, 409, 412, 428, 429, "5xx"]
        },
    },
    "generation": {
        "max-examples": EXAMPLES_PER_OPERATION,
        "deterministic": True,
        "database": "none",
    },
    "phases": {"stateful": {"max-steps": STATEFUL_STEPS}},
    # The database is real and the machine shared: bounded by count and the pytest timeout.
    "suppress-health-check": ["all"],
}


@dataclass
class Run:
    """The schema under test and what the run saw."""

    schema: schemathesis.BaseSchema
    admin: dict[str, str]
    statuses: Counter[int] = field(default_factory=Counter)
    operations: set[str] = field(default_factory=set)
    keys: dict[str, str] = field(default_factory=dict)  # Idempotency-Key -> the body sent
    started: float = field(default_factory=time.monotonic)

    def fresh_key(self, case: Case) -> None:
        """A POST /orders case gets a new Idempotency-Key if the run sent its own with another body.

        A key sent again with another body is refused because of what the key did before (422
        `idempotency_key_reused`, as the IETF Idempotency-Key draft says), not because of the
        request: the generated data cannot know the run's history. A first use keeps the
        generated key, and so does a repeat with the same body (the API answers the first
        outcome again); a missing or malformed key is left as generated (a 400 to check).
        """
        key = (case.headers or {}).get(HEADER)
        if case.operation.label != "POST /orders" or key is None or not KEY_PATTERN.fullmatch(key):
            return
        body = json.dumps(case.body, sort_keys=True, default=str)
        if self.keys.get(key.strip('"'), body) != body:
            key = case.headers[HEADER] = str(uuid.uuid4())
        self.keys[key.strip('"')] = body

    def record(self, case: Case, response: Response) -> None:
        """Count one answered request."""
        self.statuses[response.status_code] += 1
        self.operations.add(f"{case.method.upper()} {case.path}")


@pytest.fixture(scope="module")
def run(
    mongodb_uri: str, signing_key_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    """The app (admin bootstrapped, one product) and its schema, as schemathesis loads it."""
    password_file = tmp_path_factory.mktemp("schemathesis") / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n")
    app_settings = Settings(
        mongodb_uri=mongodb_uri,
        mongodb_database=f"s_{uuid.uuid4().hex[:12]}",
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
    try:
        # Loading the schema starts the app's lifespan (admin bootstrap) in schemathesis's loop.
        schema = schemathesis.openapi.from_asgi(
            "/openapi.json", app, config=SchemathesisConfig.from_dict(CONFIG)
        )
        with asgi.get_client(app) as client:  # type: ignore[arg-type]  # FastAPI's scope type
            login = client.post(
                "/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            )
            assert login.status_code == 200, login.text
            admin = {"Authorization": f"Bearer {login.json()['token']}"}
            product = client.post(
                "/products", json={"name": "Seed", "price": 100, "stock": 1000}, headers=admin
            )
            assert product.status_code == 201, product.text
        schema.config.update(headers=admin)
        result = Run(schema, admin)
        yield result
        print(  # the figures of the run, shown with -s
            f"\nschemathesis run: {len(result.operations)} method and path pairs called,"
            f" {sum(result.statuses.values())} requests,"
            f" statuses {dict(sorted(result.statuses.items()))},"
            f" {time.monotonic() - result.started:.1f} s"
        )
    finally:
        asgi.shutdown_lifespans()  # the app's lifespan: closes its database client
        client_db: MongoClient[dict[str, object]] = MongoClient(mongodb_uri)
        client_db.drop_database(app_settings.mongodb_database)
        client_db.close()


@pytest.fixture(scope="module")
def api_schema(run: Run) -> schemathesis.BaseSchema:
    """The app's own OpenAPI document, as it serves it."""
    return run.schema


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.timeout(300)
@schema.parametrize()
def test_every_operation_keeps_its_openapi_promises(case: Case, run: Run) -> None:
    run.fresh_key(case)
    response = case.call_and_validate()
    run.record(case, response)


@pytest.mark.timeout(300)
def test_sequences_of_operations_keep_their_openapi_promises(run: Run) -> None:
    machine = run.schema.as_state_machine()

    class Recording(machine):  # type: ignore[misc,valid-type]
        def before_call(self, case: Case) -> None:
            run.fresh_key(case)

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            # The token as a transport header, as the CLI's -H sends it: the `ignored_auth` check
            # then knows it is a real credential (and strips it for its probes), also where the
            # generated headers (Idempotency-Key, If-Match) already carry the configured one.
            return {"headers": run.admin}

        def after_call(self, response: Response, case: Case) -> None:
            run.record(case, response)

    Recording.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
