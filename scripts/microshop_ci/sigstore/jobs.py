"""A workflow job that signs keyless against the local Sigstore, with what GitHub would give it.

On GitHub a signing job gets three things from outside the repository: its OIDC token (through
ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN), the runner's GITHUB_* variables, and the public Sigstore.
`Job.signing_env` gives the same three here: a request token of the token service stand-in for
that job, the variables a runner sets for it, and the private-Sigstore settings of
`scripts/supply-chain`. Nothing else changes: the signing steps are the release workflow's own.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.tools import run_tool
from microshop_ci.k8s.policies import DEFAULT_REPOSITORY
from microshop_ci.sigstore import oidc
from microshop_ci.sigstore.settings import Settings, SettingsError
from microshop_ci.sigstore.variables import PRIVATE_SIGSTORE

TAG = re.compile(r"^v[0-9]+\.[0-9]+\.[0-9]+$")
TOKEN_TTL = 600  # seconds a job's request token lasts: one signing step


@dataclass(frozen=True)
class Job:
    """One workflow run whose identity signs: repository, workflow file, ref, event, commit."""

    repository: str
    workflow: str
    ref: str
    sha: str
    event: str = "push"

    @property
    def workflow_ref(self) -> str:
        """OWNER/REPO/.github/workflows/FILE@REF, as GitHub's job_workflow_ref claim."""
        return f"{self.repository}/.github/workflows/{self.workflow}@{self.ref}"

    @property
    def identity(self) -> str:
        """The certificate's SAN URI: the workflow file at the ref."""
        return f"https://github.com/{self.workflow_ref}"

    def runner_env(self) -> dict[str, str]:
        """The GITHUB_* variables a runner sets for this job (the provenance is made of them)."""
        return {
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_REF": self.ref,
            "GITHUB_SHA": self.sha,
            "GITHUB_WORKFLOW_REF": self.workflow_ref,
            "GITHUB_EVENT_NAME": self.event,
            "GITHUB_RUN_ID": "1",
            "GITHUB_RUN_ATTEMPT": "1",
        }

    def token_env(self, sigstore: Settings, ttl: int = TOKEN_TTL) -> dict[str, str]:
        """ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN of this job, from the token service stand-in,
        valid for ttl seconds (a whole workflow run under act needs longer than one step)."""
        fields = {
            "repository": self.repository,
            "workflow": self.workflow,
            "ref": self.ref,
            "event": self.event,
            "sha": self.sha,
        }
        lines = oidc.job(sigstore.data / "oidc", fields, ttl)
        return dict(line.split("=", 1) for line in lines)

    def signing_env(self, sigstore: Settings) -> dict[str, str]:
        """Everything `scripts/supply-chain --mode keyless` needs to sign as this job here."""
        return {
            **private_sigstore_env(sigstore),
            **self.token_env(sigstore),
            **self.runner_env(),
            "COSIGN_CERTIFICATE_IDENTITY": self.identity,
            "COSIGN_CERTIFICATE_OIDC_ISSUER": sigstore.issuer_url,
        }


def private_sigstore_env(sigstore: Settings) -> dict[str, str]:
    """The three settings that point scripts/supply-chain --mode keyless at the local Sigstore."""
    return dict(
        zip(
            PRIVATE_SIGSTORE,
            (sigstore.fulcio_url, sigstore.rekor_url, str(sigstore.trusted_root)),
            strict=True,
        )
    )


def release_job_lines(sigstore: Settings, env: Mapping[str, str]) -> list[str]:
    """`microshop sigstore release-job`: KEY=value lines (shell-quoted) of the release job, HEAD."""
    sha = run_tool(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"]).stdout.strip()
    signing = release_job(env, sha).signing_env(sigstore)
    return [f"{key}={shlex.quote(value)}" for key, value in signing.items()]


def release_job(env: Mapping[str, str], sha: str) -> Job:
    """This repository's release.yml on the tag MICROSHOP_RELEASE_TAG (default v0.0.0) at sha:
    the identity `scripts/supply-chain --mode keyless-local` signs as."""
    repository = env.get("GITHUB_REPOSITORY") or DEFAULT_REPOSITORY
    tag = env.get("MICROSHOP_RELEASE_TAG") or "v0.0.0"
    if not TAG.match(tag):
        raise SettingsError(f"MICROSHOP_RELEASE_TAG must be vX.Y.Z, not {tag!r}")
    return Job(repository, "release.yml", f"refs/tags/{tag}", sha)
