"""The api-service on files an OpenBao agent renders: a rotation in the store reaches it live."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from jose import jwt

from microshop_ci.cli import main as microshop
from microshop_ci.k8s.jwks import public_jwk
from tests.openbao import RENDER_BOUND, Bao, agent, poll
from tests.services.api_service.conftest import USER_PASSWORD, Starter, bearer, register


async def jwks_kids(client: httpx.AsyncClient) -> list[str]:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return [key["kid"] for key in response.json()["keys"]]


async def test_a_rotation_in_openbao_reaches_the_running_api_without_a_restart(
    openbao: Bao,
    start_app: Starter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in openbao.env().items():
        monkeypatch.setenv(name, value)
    assert microshop(["secrets", "setup"]) == 0
    assert microshop(["secrets", "seed"]) == 0
    key_file = tmp_path / "jwt" / "jwt-private-key.pem"
    previous_file = tmp_path / "jwt" / "previous-keys.json"
    with agent(openbao, "api-service", openbao.token_for("api-service"), tmp_path):
        poll(lambda: key_file.is_file() and previous_file.is_file(), "the first render")
        _, client = await start_app(
            jwt_private_key_file=key_file, jwt_previous_keys_file=previous_file
        )
        old_kid = public_jwk(key_file.read_bytes())["kid"]
        old_token = await register(client, "live@example.com")
        assert jwt.get_unverified_header(old_token)["kid"] == old_kid

        published = await jwks_kids(client)  # the key, and any earlier ones still retained
        assert published[0] == old_kid
        capsys.readouterr()
        assert microshop(["secrets", "rotate", "jwt"]) == 0
        new_kid = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
        assert new_kid != old_kid

        deadline = time.monotonic() + RENDER_BOUND
        while (await jwks_kids(client))[0] != new_kid:
            assert time.monotonic() < deadline, f"the API did not sign with {new_kid} in time"
            await asyncio.sleep(0.2)

        response = await client.post(
            "/auth/login", json={"email": "live@example.com", "password": USER_PASSWORD}
        )
        assert response.status_code == 200
        new_token = response.json()["token"]
        assert jwt.get_unverified_header(new_token)["kid"] == new_kid
        assert (await client.get("/orders/me", headers=bearer(new_token))).status_code == 200
        assert (await client.get("/orders/me", headers=bearer(old_token))).status_code == 200
        assert await jwks_kids(client) == [new_kid, *published]
