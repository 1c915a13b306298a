"""The API client's own logic over httpx.MockTransport: retry policy, headers, error mapping."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from client_service.api_client import ApiClient, error_from_response
from client_service.context import request_id_var
from client_service.errors import (
    ApiBadGatewayError,
    ApiRejectedError,
    ApiUnavailableError,
    BadInputError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    UnauthorizedError,
)

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers from a script and remembers each request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def client_for(handler: Handler, retries: int = 2) -> ApiClient:
    http = httpx.AsyncClient(base_url="http://api.test", transport=httpx.MockTransport(handler))
    return ApiClient(http, retries=retries, backoff_seconds=0)


def envelope(status: int, code: str, message: str, **extra: object) -> httpx.Response:
    body = {"error": {"code": code, "message": message, "request_id": "req-123456", **extra}}
    return httpx.Response(status, json=body)


PRODUCT = {"id": "a" * 24, "name": "Mug", "description": "", "price": 1250, "stock": 3}


async def test_get_is_retried_after_a_503_and_then_succeeds() -> None:
    recorder = Recorder(
        envelope(503, "service_unavailable", "db down"), httpx.Response(200, json=PRODUCT)
    )
    product = await client_for(recorder).get_product("a" * 24)
    assert product.price == 1250
    assert len(recorder.requests) == 2


async def test_get_gives_up_after_the_bounded_number_of_retries() -> None:
    recorder = Recorder(httpx.Response(502, text="bad gateway"))
    with pytest.raises(ApiBadGatewayError):
        await client_for(recorder, retries=2).list_products(limit=5, offset=0)
    assert len(recorder.requests) == 3


async def test_unreachable_api_on_get_is_retried_then_reported_unavailable() -> None:
    recorder = Recorder(httpx.ConnectError("refused"))
    with pytest.raises(ApiUnavailableError) as caught:
        await client_for(recorder, retries=1).health()
    assert caught.value.status == 503
    assert len(recorder.requests) == 2


async def test_timeout_on_get_is_reported_unavailable() -> None:
    recorder = Recorder(httpx.ReadTimeout("slow"))
    with pytest.raises(ApiUnavailableError):
        await client_for(recorder, retries=0).health()
    assert len(recorder.requests) == 1


async def test_an_order_is_retried_with_its_key_when_the_api_is_away() -> None:
    order = {"id": "o1", "items": [], "total": 0}
    recorder = Recorder(
        envelope(503, "service_unavailable", "db down"),
        httpx.ConnectError("refused"),
        httpx.Response(201, json=order),
    )
    placed = await client_for(recorder, retries=2).place_order("tok", [("a" * 24, 1)], "key-0001")
    assert placed.id == "o1"
    assert [r.headers["Idempotency-Key"] for r in recorder.requests] == ["key-0001"] * 3
    assert len({r.content for r in recorder.requests}) == 1


async def test_an_order_still_in_progress_is_reported_not_retried() -> None:
    recorder = Recorder(envelope(409, "order_in_progress", "still being placed"))
    with pytest.raises(ConflictError) as caught:
        await client_for(recorder, retries=3).place_order("tok", [("a" * 24, 1)], "key-0001")
    assert (caught.value.code, len(recorder.requests)) == ("order_in_progress", 1)


async def test_an_order_waits_longer_than_the_apis_own_deadline() -> None:
    recorder = Recorder(httpx.Response(201, json={"id": "o1", "items": [], "total": 0}))
    await client_for(recorder).place_order("tok", [("a" * 24, 1)], "key-0001")
    assert recorder.requests[0].extensions["timeout"] == {
        "connect": 2.0, "read": 20.0, "write": 20.0, "pool": 20.0
    }  # fmt: skip


async def test_a_post_without_a_key_is_never_retried() -> None:
    recorder = Recorder(envelope(503, "service_unavailable", "db down"))
    with pytest.raises(ApiBadGatewayError):
        await client_for(recorder, retries=3).register("a@b.example", "pw-123456789")
    assert len(recorder.requests) == 1


async def test_post_connect_error_is_not_retried() -> None:
    recorder = Recorder(httpx.ConnectError("refused"))
    with pytest.raises(ApiUnavailableError):
        await client_for(recorder, retries=3).login("a@b.example", "pw")
    assert len(recorder.requests) == 1


async def test_4xx_on_get_is_not_retried() -> None:
    recorder = Recorder(envelope(404, "not_found", "product not found"))
    with pytest.raises(NotFoundError, match="product not found"):
        await client_for(recorder).get_product("missing")
    assert len(recorder.requests) == 1


async def test_request_id_and_bearer_token_are_sent() -> None:
    recorder = Recorder(httpx.Response(200, json=[]))
    reset = request_id_var.set("trace-abcdef12")
    try:
        assert await client_for(recorder).my_orders("the-token") == []
    finally:
        request_id_var.reset(reset)
    sent = recorder.requests[0]
    assert sent.headers["X-Request-ID"] == "trace-abcdef12"
    assert sent.headers["Authorization"] == "Bearer the-token"
    assert sent.url.path == "/orders/me"


async def test_order_body_uses_the_api_contract() -> None:
    order = {
        "id": "o1",
        "items": [{"productId": "p1", "name": "Mug", "qty": 2, "unitPrice": 5, "lineTotal": 10}],
        "total": 10,
    }
    recorder = Recorder(httpx.Response(201, json=order))
    placed = await client_for(recorder).place_order("tok", [("p1", 2)], "key-0001")
    assert json.loads(recorder.requests[0].content) == {"items": [{"productId": "p1", "qty": 2}]}
    assert recorder.requests[0].headers["Idempotency-Key"] == "key-0001"
    assert placed.total == 10
    assert placed.items[0].line_total == 10


async def test_product_ids_cannot_escape_their_path_segment() -> None:
    recorder = Recorder(httpx.Response(200, json=PRODUCT))
    await client_for(recorder).get_product("../orders/me")
    assert recorder.requests[0].url.raw_path == b"/products/..%2Forders%2Fme"


async def test_list_pagination_goes_through_query_parameters() -> None:
    recorder = Recorder(httpx.Response(200, json=[PRODUCT]))
    products = await client_for(recorder).list_products(limit=13, offset=26)
    assert [p.name for p in products] == ["Mug"]
    assert dict(recorder.requests[0].url.params) == {"limit": "13", "offset": "26"}


@pytest.mark.parametrize(
    ("status", "code", "error_class"),
    [
        (400, "bad_request", BadInputError),
        (401, "unauthorized", UnauthorizedError),
        (404, "not_found", NotFoundError),
        (409, "out_of_stock", ConflictError),
        (422, "validation_error", BadInputError),
        (429, "too_many_requests", RateLimitedError),
        (418, "teapot", ApiRejectedError),
    ],
)
def test_error_envelope_maps_to_a_domain_error(
    status: int, code: str, error_class: type[ApiRejectedError]
) -> None:
    error = error_from_response(envelope(status, code, "the API says no"))
    assert type(error) is error_class
    assert (error.status, error.code, error.message) == (status, code, "the API says no")
    assert error.request_id == "req-123456"


def test_validation_details_become_a_readable_message() -> None:
    details = [{"loc": ["body", "password"], "msg": "String should have at least 8 characters"}]
    error = error_from_response(
        envelope(422, "validation_error", "request validation failed", details=details)
    )
    assert error.message == (
        "request validation failed: password: String should have at least 8 characters"
    )


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(409, json={"detail": "email taken"}), "email taken"),
        (httpx.Response(409, json={"error": "email taken"}), "email taken"),
        (httpx.Response(422, json={"detail": [{"msg": "bad"}, "worse"]}), "bad; worse"),
        (httpx.Response(409, text="<html>nope</html>"), "Conflict"),
        (httpx.Response(409, json=[1, 2]), "Conflict"),
    ],
)
def test_other_error_bodies_are_tolerated(response: httpx.Response, message: str) -> None:
    assert error_from_response(response).message == message


def test_server_errors_map_to_bad_gateway() -> None:
    error = error_from_response(httpx.Response(500, text="Internal Server Error"))
    assert isinstance(error, ApiBadGatewayError)
    assert error.message == "the API failed"
    assert str(error) == "500 error: the API failed"


@pytest.mark.parametrize("body", [b"not json", b'{"id": 1}', b'[{"id": "x"}]', b'"a string"'])
async def test_unreadable_answers_are_bad_gateway(body: bytes) -> None:
    recorder = Recorder(httpx.Response(200, content=body))
    api = client_for(recorder)
    with pytest.raises(ApiBadGatewayError):
        await api.get_product("x")
    with pytest.raises(ApiBadGatewayError):
        await api.list_products(limit=1, offset=0)
    if not body.startswith(b"{"):
        with pytest.raises(ApiBadGatewayError):
            await api.health()


async def test_health_returns_the_api_json() -> None:
    api = client_for(Recorder(httpx.Response(200, json={"status": "ok"})))
    assert await api.health() == {"status": "ok"}
    await api.aclose()


async def test_auth_results_are_parsed() -> None:
    body = {
        "token": "t",
        "tokenType": "Bearer",
        "user": {"id": "u1", "email": "a@b.example", "role": "user"},
    }
    api = client_for(Recorder(httpx.Response(201, json=body)))
    registered = await api.register("a@b.example", "password1")
    assert (registered.token, registered.user.email) == ("t", "a@b.example")
