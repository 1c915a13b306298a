"""A stand-in of GitHub Actions' OIDC token service (a test double) for the local Fulcio and cosign.

Not a product: it reproduces what Fulcio and cosign read of GitHub's service (discovery, JWKS, the
job's token endpoint and GitHub's claim set) so the local Fulcio certifies a local job exactly as
it certifies a GitHub one. No library serves this shape, so the small HTTP part is the standard
library's; keys and tokens are `cryptography` and python-jose, as in the api-service.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import sys
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, NoReturn
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt
from jose.exceptions import JOSEError
from jose.utils import base64url_encode

GITHUB = "https://github.com"
ENDPOINT = "/_apis/distributedtask/idtoken"  # GitHub's request URL ends ?api-version=2.0
TOKEN_LIFETIME = 300  # GitHub's documented token: exp = iat + 5 min, nbf = iat - 10 min
NOT_BEFORE_SKEW = 600
JOB_TTL = 6 * 3600  # a request token lasts as long as the longest job on a GitHub-hosted runner
REPOSITORY = re.compile(r"[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}")
REF = re.compile(r"refs/(heads|tags)/[A-Za-z0-9._/-]+|refs/pull/[1-9][0-9]*/merge")
WORKFLOW = re.compile(r"[A-Za-z0-9._-]+\.ya?ml")
EVENT = re.compile(r"[a-z_]+")
SHA = re.compile(r"[0-9a-f]{40}")
_NO_JOB = dict.fromkeys(("repository", "ref", "event", "workflow", "sha", "run_id"), "o/r")


def _create_once(path: Path, make: Callable[[], bytes]) -> bytes:
    """The file's content; first written (0600, synced, atomically) if the file did not exist."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(make())
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, path)  # fails if another process created it first: theirs is kept
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes()


def _job_secret(data: Path) -> str:
    """The secret that signs request tokens: whoever reads DIR can start jobs, as a runner can."""
    return _create_once(data / "job-secret", lambda: secrets.token_hex(32).encode()).decode()


def _new_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs8 = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())


def _numeric_id(name: str) -> str:
    """A stable numeric ID for a name, as GitHub's repository and owner IDs are stable."""
    return str(int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big"))


def github_claims(job: dict[str, Any], issuer: str, audience: str, now: int) -> dict[str, Any]:
    """GitHub's claim set for one job, as its service puts it in an ID token."""
    repository, ref, event = job["repository"], job["ref"], job["event"]
    owner = repository.split("/")[0]
    workflow_ref = f"{repository}/.github/workflows/{job['workflow']}@{ref}"
    pull = event in {"pull_request", "pull_request_target"}
    return {
        "jti": str(uuid.uuid4()),
        "sub": f"repo:{repository}:pull_request" if pull else f"repo:{repository}:ref:{ref}",
        "aud": audience,
        "ref": ref,
        "sha": job["sha"],
        "repository": repository,
        "repository_owner": owner,
        "repository_owner_id": _numeric_id(owner),
        "repository_visibility": "public",
        "repository_id": _numeric_id(repository),
        "actor_id": _numeric_id(owner),
        "actor": owner,
        "run_id": job["run_id"],
        "run_number": "1",
        "run_attempt": "1",
        "runner_environment": "self-hosted",
        "workflow": f".github/workflows/{job['workflow']}",
        "head_ref": "",
        "base_ref": "",
        "event_name": event,
        "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
        "workflow_ref": workflow_ref,
        "workflow_sha": job["sha"],
        "job_workflow_ref": workflow_ref,
        "job_workflow_sha": job["sha"],
        "iss": issuer,
        "nbf": now - NOT_BEFORE_SKEW,
        "exp": now + TOKEN_LIFETIME,
        "iat": now,
    }


def fulcio_issuer(url: str) -> dict[str, Any]:
    """Fulcio v1.8.8's config (JSON form) trusting this issuer as it trusts GitHub's.

    The same `ci-provider` entry and `github-workflow` templates as the public Fulcio's config:
    the SAN and the 1.3.6.1.4.1.57264.1.* values name https://github.com like GitHub's; only the
    issuer extensions (.1.1, .1.8) carry this service's URL.
    """
    repo, signer = "{{ .url }}/{{ .repository }}", "{{ .url }}/{{ .job_workflow_ref }}"
    templates = {
        "GithubWorkflowTrigger": "event_name",
        "GithubWorkflowSHA": "sha",
        "GithubWorkflowName": "workflow",
        "GithubWorkflowRepository": "repository",
        "GithubWorkflowRef": "ref",
        "BuildSignerURI": signer,
        "BuildSignerDigest": "job_workflow_sha",
        "RunnerEnvironment": "runner_environment",
        "SourceRepositoryURI": repo,
        "SourceRepositoryDigest": "sha",
        "SourceRepositoryRef": "ref",
        "SourceRepositoryIdentifier": "repository_id",
        "SourceRepositoryOwnerURI": "{{ .url }}/{{ .repository_owner }}",
        "SourceRepositoryOwnerIdentifier": "repository_owner_id",
        "BuildConfigURI": "{{ .url }}/{{ .workflow_ref }}",
        "BuildConfigDigest": "workflow_sha",
        "BuildTrigger": "event_name",
        "RunInvocationURI": repo + "/actions/runs/{{ .run_id }}/attempts/{{ .run_attempt }}",
        "SourceRepositoryVisibilityAtSigning": "repository_visibility",
        "DeploymentEnvironment": "environment",
    }
    issuer = {"IssuerURL": url, "ClientID": "sigstore", "Type": "ci-provider"}
    metadata = {
        "DefaultTemplateValues": {"url": GITHUB, "environment": ""},
        "ExtensionTemplates": templates,
        "SubjectAlternativeNameTemplate": signer,
    }
    return {
        "OIDCIssuers": {url: {**issuer, "CIProvider": "github-workflow"}},
        "CIIssuerMetadata": {"github-workflow": metadata},
    }


class TokenHandler(BaseHTTPRequestHandler):
    """Discovery, JWKS and the token endpoint; every answer is one line of JSON."""

    issuer: ClassVar[str]
    key_pem: ClassVar[bytes]
    public_jwk: ClassVar[dict[str, Any]]
    job_secret: ClassVar[str]
    server_version = "microshop-oidc/1"

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the job that asks for a token reports what went wrong."""

    def _send(self, status: HTTPStatus, payload: Any) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _id_token(self) -> None:
        scheme, _, request_token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not request_token:
            self._send(HTTPStatus.UNAUTHORIZED, {"message": "missing bearer request token"})
            return
        try:
            job = jwt.decode(request_token, self.job_secret, algorithms=["HS256"])
        except JOSEError as err:
            self._send(HTTPStatus.UNAUTHORIZED, {"message": f"invalid request token: {err}"})
            return
        owner = job["repository"].split("/")[0]
        audience = parse_qs(urlsplit(self.path).query).get("audience", [f"{GITHUB}/{owner}"])[-1]
        claims = github_claims(job, self.issuer, audience, int(time.time()))
        kid = self.public_jwk["kid"]
        token = jwt.encode(claims, self.key_pem.decode(), "RS256", headers={"kid": kid})
        self._send(HTTPStatus.OK, {"value": token})

    def do_GET(self) -> None:
        """GET discovery, the JWKS, or an ID token for the job that the bearer token names."""
        path = urlsplit(self.path).path
        if path == "/.well-known/openid-configuration":
            self._send(HTTPStatus.OK, discovery(self.issuer))
        elif path in {"/.well-known/jwks", "/jwks"}:
            self._send(HTTPStatus.OK, {"keys": [self.public_jwk]})
        elif path == ENDPOINT:
            self._id_token()
        else:
            self._send(HTTPStatus.NOT_FOUND, {"message": f"no such endpoint: GET {path}"})


def discovery(issuer: str) -> dict[str, Any]:
    """The OpenID discovery document, with the fields GitHub's has."""
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks",
        "subject_types_supported": ["public", "pairwise"],
        "response_types_supported": ["id_token"],
        "claims_supported": sorted(github_claims(_NO_JOB, issuer, "", 0)),
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"],
    }


def public_jwk(key_pem: bytes) -> dict[str, Any]:
    """The signing key's public JWK, its kid the RFC 7638 thumbprint."""
    public = jwk.construct(key_pem, "RS256").public_key().to_dict()
    canonical = json.dumps({k: public[k] for k in ("e", "kty", "n")}, separators=(",", ":"))
    kid = base64url_encode(hashlib.sha256(canonical.encode()).digest()).decode()
    return {**public, "use": "sig", "kid": kid}


def serve(host: str, port: int, data: Path) -> None:
    """Serve until interrupted; DIR/url names the issuer, so that `job` finds it."""
    key_pem = _create_once(data / "signing-key.pem", _new_key)  # reused on restart
    attrs = {"key_pem": key_pem, "public_jwk": public_jwk(key_pem), "job_secret": _job_secret(data)}
    handler: type[TokenHandler] = type("BoundHandler", (TokenHandler,), attrs)
    server = ThreadingHTTPServer((host, port), handler)
    issuer = f"http://{host}:{server.server_address[1]}"
    handler.issuer = issuer
    (data / ".url").write_text(issuer)
    os.replace(data / ".url", data / "url")
    print(f"{issuer} (OIDC token service stand-in)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def job(data: Path, fields: dict[str, str], ttl: int) -> list[str]:
    """The runner's two variables for one job: the token endpoint and the job's request token."""
    url_file = data / "url"
    if not url_file.exists():
        raise SystemExit(f"oidc: error: {url_file} is missing: start `serve --data {data}` first")
    run_id = str(secrets.randbelow(9 * 10**9) + 10**9)
    request = {**fields, "run_id": run_id, "exp": int(time.time()) + ttl}
    token = jwt.encode(request, _job_secret(data), "HS256")
    url = f"{url_file.read_text()}{ENDPOINT}?api-version=2.0"
    return [f"ACTIONS_ID_TOKEN_REQUEST_URL={url}", f"ACTIONS_ID_TOKEN_REQUEST_TOKEN={token}"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line naming the flag, exit 2."""
        self.exit(2, f"oidc: error: {message}\n")


def _matching(pattern: re.Pattern[str], what: str) -> Any:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise argparse.ArgumentTypeError(f"{value!r} is not {what}")
        return value

    return check


def main(argv: list[str] | None = None) -> int:
    """`serve` the token service, or print a `job`'s ACTIONS_ID_TOKEN_REQUEST_* lines."""
    parser = _Parser(prog="python -m microshop_ci.sigstore.oidc", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve", help="serve discovery, JWKS and ID tokens")
    serving.add_argument("--host", default="127.0.0.1")
    serving.add_argument("--port", type=int, default=0, help="0: a free one (see DIR/url)")
    serving.add_argument("--data", type=Path, required=True, help="key, secret and URL live here")
    one = commands.add_parser("job", help="print the request URL and token of one job")
    one.add_argument("--data", type=Path, required=True)
    one.add_argument("--repository", required=True, type=_matching(REPOSITORY, "OWNER/REPO"))
    one.add_argument("--workflow", required=True, type=_matching(WORKFLOW, "a workflow file"))
    ref_kinds = "refs/heads/B, refs/tags/T or refs/pull/N/merge"
    one.add_argument("--ref", required=True, type=_matching(REF, ref_kinds))
    one.add_argument("--event", required=True, type=_matching(EVENT, "an event name"))
    one.add_argument("--sha", required=True, type=_matching(SHA, "a 40-hex commit SHA"))
    one.add_argument("--ttl", type=int, default=JOB_TTL, help="seconds the job may ask")
    args = parser.parse_args(argv)
    if args.command == "serve":
        serve(args.host, args.port, args.data)
        return 0
    if args.ttl <= 0:
        parser.error("argument --ttl: must be a positive number of seconds")
    fields = {k: getattr(args, k) for k in ("repository", "workflow", "ref", "event", "sha")}
    print("\n".join(job(args.data, fields, args.ttl)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
