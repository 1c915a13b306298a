"""The stand-in of GitHub's OIDC token service: discovery, JWKS, GitHub's claims, cosign's call."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from jose import jwt

from microshop_ci.cli import main as microshop
from microshop_ci.sigstore.oidc import fulcio_issuer
from tests.conftest import (
    free_port,
    interruptible_module,
    loopback_http_server,
    stop_process,
    tool_path,
    wait_for_port,
)

SHA = "0123456789abcdef0123456789abcdef01234567"
REPO = ["--repository", "octo-org/shop", "--workflow", "release.yml", "--sha", SHA]
TAG = "refs/tags/v0.0.0-test"
SIGNER = "octo-org/shop/.github/workflows/release.yml@"


@contextmanager
def serving(data: Path, port: int | None = None) -> Iterator[str]:
    """The service as its own process on port (else a free one); yields its issuer URL."""
    port = port or free_port()
    argv = ["serve", "--port", str(port), "--data", str(data)]
    proc = subprocess.Popen(interruptible_module("microshop_ci", "oidc", *argv))
    try:
        wait_for_port(port, proc, "the OIDC token service")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("oidc")


@pytest.fixture(scope="module")
def issuer(data: Path) -> Iterator[str]:
    with serving(data) as url:
        yield url


def job(data: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, str]:
    """The two variables `job` prints, as a shell would set them."""
    assert microshop(["oidc", "job", "--data", str(data), *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("=", 1)[0] for line in lines] == [
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    ]
    return dict(line.split("=", 1) for line in lines)


def cosign_request(env: dict[str, str], audience: str | None = "sigstore") -> httpx.Response:
    """cosign's own request: the URL plus `&audience=`, the request token as a bearer."""
    url = env["ACTIONS_ID_TOKEN_REQUEST_URL"] + (f"&audience={audience}" if audience else "")
    bearer = {"Authorization": "bearer " + env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]}
    return httpx.get(url, headers=bearer)


def verified(issuer: str, token: str, audience: str) -> dict[str, Any]:
    """The token's claims, its signature checked against the key that discovery leads to."""
    config = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    keys = httpx.get(config["jwks_uri"]).json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    [key] = [k for k in keys if k["kid"] == kid]
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["RS256"], audience=audience, issuer=issuer
    )
    return claims


def id_token_claims(issuer: str, env: dict[str, str], audience: str = "sigstore") -> dict[str, Any]:
    response = cosign_request(env, audience)
    assert response.status_code == 200
    assert list(response.json()) == ["value"]
    return verified(issuer, response.json()["value"], audience)


def expected(issuer: str, sub: str, ref: str, event: str, run_id: str) -> dict[str, Any]:
    return {
        "sub": sub,
        "aud": "sigstore",
        "iss": issuer,
        "ref": ref,
        "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
        "sha": SHA,
        "repository": "octo-org/shop",
        "repository_owner": "octo-org",
        "repository_id": "2103460371",
        "repository_owner_id": "514746977",
        "repository_visibility": "public",
        "actor": "octo-org",
        "actor_id": "514746977",
        "run_id": run_id,
        "run_number": "1",
        "run_attempt": "1",
        "runner_environment": "self-hosted",
        "workflow": ".github/workflows/release.yml",
        "workflow_ref": SIGNER + ref,
        "workflow_sha": SHA,
        "job_workflow_ref": SIGNER + ref,
        "job_workflow_sha": SHA,
        "event_name": event,
        "head_ref": "",
        "base_ref": "",
    }


@pytest.mark.parametrize(
    ("ref", "event", "sub"),
    [
        (TAG, "push", f"repo:octo-org/shop:ref:{TAG}"),
        ("refs/pull/7/merge", "pull_request", "repo:octo-org/shop:pull_request"),
        ("refs/heads/main", "push", "repo:octo-org/shop:ref:refs/heads/main"),
    ],
)
def test_a_job_gets_githubs_claims_in_a_token_that_discovery_verifies(
    issuer: str, data: Path, capsys: pytest.CaptureFixture[str], ref: str, event: str, sub: str
) -> None:
    env = job(data, capsys, *REPO, "--ref", ref, "--event", event)
    claims = id_token_claims(issuer, env)
    times = {k: claims.pop(k) for k in ("iat", "nbf", "exp")}
    assert (times["exp"] - times["iat"], times["iat"] - times["nbf"]) == (300, 600)
    assert re.fullmatch(r"[0-9a-f-]{36}", claims.pop("jti"))
    assert re.fullmatch(r"[1-9][0-9]{9}", claims["run_id"])
    assert claims == expected(issuer, sub, ref, event, claims["run_id"])


def test_discovery_names_the_issuer_exactly_and_rs256(issuer: str) -> None:
    config = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
    assert config["issuer"] == issuer
    assert config["jwks_uri"] == f"{issuer}/.well-known/jwks"
    assert config["id_token_signing_alg_values_supported"] == ["RS256"]
    assert httpx.get(f"{issuer}/jwks").json() == httpx.get(config["jwks_uri"]).json()


def test_the_audience_is_the_one_asked_for_else_the_owners_url(
    issuer: str, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = job(data, capsys, *REPO, "--ref", TAG, "--event", "push")
    assert id_token_claims(issuer, env, "https://fulcio.local")["aud"] == "https://fulcio.local"
    response = cosign_request(env, audience=None)
    token = response.json()["value"]
    assert verified(issuer, token, "https://github.com/octo-org")["aud"] == (
        "https://github.com/octo-org"
    )


def forged(data: Path, **changes: Any) -> str:
    """A release job's request token signed with DIR's secret, as the runner holds it."""
    claims = {"repository": "octo-org/shop", "workflow": "release.yml", "ref": TAG}
    claims |= {"event": "push", "sha": SHA, "run_id": "1000000000", "exp": int(time.time()) + 60}
    return jwt.encode(claims | changes, (data / "job-secret").read_text(), "HS256")


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "missing bearer request token"),
        ("bearer not-a-jwt", "invalid request token: Not enough segments"),
        ("bearer {expired}", "invalid request token: Signature has expired."),
        ("bearer {other_secret}", "invalid request token: Signature verification failed."),
    ],
)
def test_a_missing_forged_or_expired_request_token_gets_401(
    issuer: str, data: Path, authorization: str | None, message: str
) -> None:
    tokens = {"expired": forged(data, exp=int(time.time()) - 1)}
    tokens["other_secret"] = jwt.encode(jwt.get_unverified_claims(forged(data)), "x" * 64, "HS256")
    headers = {"Authorization": authorization.format(**tokens)} if authorization else {}
    url = f"{issuer}/_apis/distributedtask/idtoken?api-version=2.0&audience=sigstore"
    response = httpx.get(url, headers=headers)
    assert (response.status_code, response.json()) == (401, {"message": message})
    assert b"\n" not in response.content


def test_an_unknown_path_gets_404(issuer: str) -> None:
    response = httpx.get(f"{issuer}/token")
    assert response.status_code == 404
    assert response.json() == {"message": "no such endpoint: GET /token"}


def test_the_key_is_created_once_and_reused_after_a_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serving(tmp_path) as first:
        keys = httpx.get(f"{first}/.well-known/jwks").json()
        env = job(tmp_path, capsys, *REPO, "--ref", TAG, "--event", "push")
    assert {p.name: p.stat().st_mode & 0o777 for p in tmp_path.glob("*-*")} == {
        "signing-key.pem": 0o600,
        "job-secret": 0o600,
    }
    with serving(tmp_path, port=int(first.rsplit(":", 1)[1])) as second:
        assert httpx.get(f"{second}/.well-known/jwks").json() == keys
        assert id_token_claims(second, env)["iss"] == second == first


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--repository", "octo-org"),
        ("--ref", "main"),
        ("--ref", "refs/pull/x/merge"),
        ("--sha", "abc"),
        ("--workflow", "../release.yml"),
        ("--ttl", "0"),
    ],
)
def test_job_refuses_a_malformed_flag_in_one_line_with_exit_2(
    issuer: str, data: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str
) -> None:
    args = {"--ref": TAG, "--event": "push", flag: value}
    argv = [*REPO, *(x for pair in args.items() for x in pair)]
    assert microshop(["oidc", "job", "--data", str(data), *argv]) == 2
    err = capsys.readouterr().err
    prefix = (
        "error: argument --ttl"
        if flag == "--ttl"
        else f"error: microshop oidc job: argument {flag}"
    )
    assert err.startswith(prefix)
    assert err.count("\n") == 1


def render(template: str, values: dict[str, Any]) -> str:
    """Fulcio's template step: `{{ .claim }}` substituted, or a bare claim name looked up."""
    if "{{" not in template:
        return str(values[template])
    return re.sub(r"\{\{ \.(\w+) \}\}", lambda m: str(values[m[1]]), template)


def test_fulcio_config_gives_githubs_san_and_extensions_for_a_release_job(
    issuer: str, data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = fulcio_issuer(issuer)
    entry = config["OIDCIssuers"][issuer]
    assert entry == {
        "IssuerURL": issuer,
        "ClientID": "sigstore",
        "Type": "ci-provider",
        "CIProvider": "github-workflow",
    }
    metadata = config["CIIssuerMetadata"]["github-workflow"]
    claims = id_token_claims(issuer, job(data, capsys, *REPO, "--ref", TAG, "--event", "push"))
    values = metadata["DefaultTemplateValues"] | claims
    rendered = {k: render(v, values) for k, v in metadata["ExtensionTemplates"].items()}
    run = claims["run_id"]
    assert render(metadata["SubjectAlternativeNameTemplate"], values) == (
        "https://github.com/" + SIGNER + TAG
    )
    assert rendered == {
        "GithubWorkflowTrigger": "push",
        "GithubWorkflowSHA": SHA,
        "GithubWorkflowName": ".github/workflows/release.yml",
        "GithubWorkflowRepository": "octo-org/shop",
        "GithubWorkflowRef": TAG,
        "BuildSignerURI": "https://github.com/" + SIGNER + TAG,
        "BuildSignerDigest": SHA,
        "RunnerEnvironment": "self-hosted",
        "SourceRepositoryURI": "https://github.com/octo-org/shop",
        "SourceRepositoryDigest": SHA,
        "SourceRepositoryRef": TAG,
        "SourceRepositoryIdentifier": "2103460371",
        "SourceRepositoryOwnerURI": "https://github.com/octo-org",
        "SourceRepositoryOwnerIdentifier": "514746977",
        "BuildConfigURI": "https://github.com/" + SIGNER + TAG,
        "BuildConfigDigest": SHA,
        "BuildTrigger": "push",
        "RunInvocationURI": f"https://github.com/octo-org/shop/actions/runs/{run}/attempts/1",
        "SourceRepositoryVisibilityAtSigning": "public",
        "DeploymentEnvironment": "",
    }


def test_job_before_any_serve_says_to_start_the_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["oidc", "job", "--data", str(tmp_path), *REPO, "--ref", TAG, "--event", "push"]
    assert microshop(argv) == 2
    assert capsys.readouterr().err == (
        f"error: {tmp_path}/url is missing: start `microshop oidc serve --data {tmp_path}` first\n"
    )


def test_cosign_takes_the_token_unchanged_and_presents_it_to_fulcio(
    issuer: str, data: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    presented: list[tuple[str, str]] = []

    class Fulcio(BaseHTTPRequestHandler):
        """Records what cosign presents to Fulcio and refuses it (a 4xx: cosign does not retry)."""

        def do_POST(self) -> None:
            presented.append((self.path, self.headers.get("Authorization", "")))
            self.send_response(401)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    env = job(data, capsys, *REPO, "--ref", TAG, "--event", "push")
    (tmp_path / "blob").write_text("release")
    with loopback_http_server(Fulcio) as fulcio:
        flags = ["--fulcio-url", fulcio, "--rekor-url", fulcio, "--use-signing-config=false"]
        signing = subprocess.run(
            [tool_path("cosign"), "sign-blob", "--yes", *flags, "--bundle", "b.json", "blob"],
            cwd=tmp_path,
            env={**os.environ, **env, "HOME": str(tmp_path)},
            capture_output=True,
            timeout=120,
            check=False,
        )
    assert signing.returncode == 1
    [(path, authorization)] = presented
    assert path == "/api/v2/signingCert"
    scheme, token = authorization.split(" ")
    claims = verified(issuer, token, "sigstore")
    assert (scheme, claims["sub"], claims["job_workflow_ref"]) == (
        "Bearer",
        f"repo:octo-org/shop:ref:{TAG}",
        SIGNER + TAG,
    )
