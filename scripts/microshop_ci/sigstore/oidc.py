"""A stand-in (test double) of GitHub Actions' OIDC token service for the local Fulcio and cosign.

What Fulcio and cosign read of GitHub's service: discovery, JWKS, a job's token endpoint, GitHub's
claims. No library serves that shape: HTTP is the standard library's, tokens are python-jose's.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt
from jose.exceptions import JOSEError
from jose.utils import base64url_encode

from microshop_ci.core.errors import UsageError
from microshop_ci.core.jsonhttp import JsonHandler

GITHUB = "https://github.com"
ENDPOINT = "/_apis/distributedtask/idtoken"  # GitHub's request URL ends ?api-version=2.0
TOKEN_LIFETIME = 300  # GitHub's documented token: exp = iat + 5 min, nbf = iat - 10 min
NOT_BEFORE_SKEW = 600
JOB_TTL = 6 * 3600  # a request token lasts as long as the longest job on a GitHub-hosted runner
JOB_FLAGS = {  # flag: (what a value must match, what it is)
    "repository": (r"[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}", "OWNER/REPO"),
    "workflow": (r"[A-Za-z0-9._-]+\.ya?ml", "a workflow file name"),
    "ref": (r"refs/(heads|tags)/[\w./-]+|refs/pull/[1-9]\d*/merge", "a branch, tag or PR ref"),
    "event": (r"[a-z_]+", "an event name"),
    "sha": (r"[0-9a-f]{40}", "a 40-hex commit SHA"),
}
_SAMPLE_JOB = dict.fromkeys(("repository", "ref", "event", "workflow", "sha", "run_id"), "o/r")


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
        with contextlib.suppress(FileExistsError):  # another process was first: keep theirs
            os.link(tmp, path)
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
    return {
        "jti": str(uuid.uuid4()),
        "sub": f"repo:{repository}:"
        + ("pull_request" if event == "pull_request" else f"ref:{ref}"),
        "aud": audience,
        "ref": ref,
        "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
        "repository": repository,
        "repository_id": _numeric_id(repository),
        "repository_owner": owner,
        "repository_visibility": "public",
        "actor": owner,
        **dict.fromkeys(("repository_owner_id", "actor_id"), _numeric_id(owner)),
        **dict.fromkeys(("sha", "workflow_sha", "job_workflow_sha"), job["sha"]),
        **dict.fromkeys(("workflow_ref", "job_workflow_ref"), workflow_ref),
        **dict.fromkeys(("head_ref", "base_ref"), ""),  # a pull request's branches: not known
        **dict.fromkeys(("run_number", "run_attempt"), "1"),
        "run_id": job["run_id"],
        "runner_environment": "self-hosted",
        "workflow": f".github/workflows/{job['workflow']}",
        "event_name": event,
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
    templates = {  # extension (OID 1.3.6.1.4.1.57264.1.2 to .23): a claim, or a template
        **dict.fromkeys(("GithubWorkflowTrigger", "BuildTrigger"), "event_name"),
        **dict.fromkeys(("GithubWorkflowSHA", "SourceRepositoryDigest"), "sha"),
        **dict.fromkeys(("GithubWorkflowRef", "SourceRepositoryRef"), "ref"),
        "GithubWorkflowName": "workflow",
        "GithubWorkflowRepository": "repository",
        "BuildSignerURI": signer,
        "BuildSignerDigest": "job_workflow_sha",
        "RunnerEnvironment": "runner_environment",
        "SourceRepositoryURI": repo,
        "SourceRepositoryIdentifier": "repository_id",
        "SourceRepositoryOwnerURI": "{{ .url }}/{{ .repository_owner }}",
        "SourceRepositoryOwnerIdentifier": "repository_owner_id",
        "BuildConfigURI": "{{ .url }}/{{ .workflow_ref }}",
        "BuildConfigDigest": "workflow_sha",
        "RunInvocationURI": repo + "/actions/runs/{{ .run_id }}/attempts/{{ .run_attempt }}",
        "SourceRepositoryVisibilityAtSigning": "repository_visibility",
        "DeploymentEnvironment": "environment",
    }
    issuer = {"IssuerURL": url, "ClientID": "sigstore", "Type": "ci-provider"}
    metadata: dict[str, Any] = {"DefaultTemplateValues": {"url": GITHUB, "environment": ""}}
    metadata |= {"ExtensionTemplates": templates, "SubjectAlternativeNameTemplate": signer}
    return {
        "OIDCIssuers": {url: {**issuer, "CIProvider": "github-workflow"}},
        "CIIssuerMetadata": {"github-workflow": metadata},
    }


class TokenHandler(JsonHandler, BaseHTTPRequestHandler):
    """Discovery, JWKS and the token endpoint; every answer is one line of JSON."""

    issuer: ClassVar[str]
    key_pem: ClassVar[bytes]
    public_jwk: ClassVar[dict[str, Any]]
    job_secret: ClassVar[str]
    server_version = "microshop-oidc/1"

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
        "claims_supported": sorted(github_claims(_SAMPLE_JOB, issuer, "", 0)),
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
    with contextlib.suppress(KeyboardInterrupt), server:
        server.serve_forever()


def job(data: Path, fields: dict[str, str], ttl: int) -> list[str]:
    """The runner's two variables for one job: the token endpoint and the job's request token."""
    url_file = data / "url"
    if not url_file.exists():
        raise UsageError(f"{url_file} is missing: start `microshop oidc serve --data {data}` first")
    run_id = str(secrets.randbelow(9 * 10**9) + 10**9)
    request = {**fields, "run_id": run_id, "exp": int(time.time()) + ttl}
    token = jwt.encode(request, _job_secret(data), "HS256")
    url = f"{url_file.read_text()}{ENDPOINT}?api-version=2.0"
    return [f"ACTIONS_ID_TOKEN_REQUEST_URL={url}", f"ACTIONS_ID_TOKEN_REQUEST_TOKEN={token}"]


def _matching(pattern: str, what: str) -> Any:
    def check(value: str) -> str:
        if not re.fullmatch(pattern, value, re.ASCII):
            raise argparse.ArgumentTypeError(f"{value!r} is not {what}")
        return value

    return check


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop oidc serve ... | job ...`."""
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve", help="serve discovery, JWKS and ID tokens")
    serving.add_argument("--host", default="127.0.0.1")
    serving.add_argument("--port", type=int, default=0, help="0: a free one (see DIR/url)")
    serving.add_argument("--data", type=Path, required=True, help="key, secret and URL live here")
    one = commands.add_parser("job", help="print the request URL and token of one job")
    one.add_argument("--data", type=Path, required=True)
    for flag, (pattern, what) in JOB_FLAGS.items():
        one.add_argument(f"--{flag}", required=True, type=_matching(pattern, what))
    one.add_argument("--ttl", type=int, default=JOB_TTL, help="seconds the job may ask")


def run_command(args: argparse.Namespace) -> int:
    """`serve` the token service, or print a `job`'s ACTIONS_ID_TOKEN_REQUEST_* lines."""
    if args.command == "serve":
        serve(args.host, args.port, args.data)
        return 0
    if args.ttl <= 0:
        raise UsageError("argument --ttl: must be a positive number of seconds")
    print("\n".join(job(args.data, {k: getattr(args, k) for k in JOB_FLAGS}, args.ttl)))
    return 0
