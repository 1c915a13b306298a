"""Keyless signing against the local Sigstore, as a workflow job of GitHub would sign.

A `Job` is one workflow run (repository, workflow file, ref, event): the token service stand-in
mints its request token, cosign fetches the OIDC token from it exactly as on GitHub, and the local
Fulcio certifies that identity. Used by the cluster's keyless admission tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from microshop_ci.sigstore import oidc
from microshop_ci.sigstore.settings import Settings
from tests.e2e.kube import run_tool

SHA = "5" * 40  # the commit every test job claims to run
LEGACY = ("--new-bundle-format=false", "--use-signing-config=false")


@dataclass(frozen=True)
class Job:
    """One workflow run whose identity signs."""

    repository: str
    workflow: str
    ref: str
    event: str = "push"

    @property
    def workflow_ref(self) -> str:
        """OWNER/REPO/.github/workflows/FILE@REF, as GitHub's job_workflow_ref claim."""
        return f"{self.repository}/.github/workflows/{self.workflow}@{self.ref}"

    @property
    def identity(self) -> str:
        """The certificate's SAN: the workflow file at the ref."""
        return f"https://github.com/{self.workflow_ref}"

    def runner_env(self) -> dict[str, str]:
        """The GITHUB_* variables the runner sets for this job (the provenance reads them)."""
        return {
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_REPOSITORY": self.repository,
            "GITHUB_REF": self.ref,
            "GITHUB_SHA": SHA,
            "GITHUB_WORKFLOW_REF": self.workflow_ref,
            "GITHUB_EVENT_NAME": self.event,
            "GITHUB_RUN_ID": "1",
            "GITHUB_RUN_ATTEMPT": "1",
        }

    def token_env(self, sigstore: Settings) -> dict[str, str]:
        """ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN of this job, from the token service."""
        fields = {
            "repository": self.repository,
            "workflow": self.workflow,
            "ref": self.ref,
            "event": self.event,
            "sha": SHA,
        }
        lines = oidc.job(sigstore.data / "oidc", fields, 600)
        return dict(line.split("=", 1) for line in lines)


def private_sigstore_env(sigstore: Settings) -> dict[str, str]:
    """The three settings that point scripts/supply-chain --mode keyless at the local Sigstore."""
    return {
        "MICROSHOP_SIGSTORE_FULCIO_URL": sigstore.fulcio_url,
        "MICROSHOP_SIGSTORE_REKOR_URL": sigstore.rekor_url,
        "MICROSHOP_SIGSTORE_TRUSTED_ROOT": str(sigstore.trusted_root),
    }


def sign(cosign: str, ref: str, sigstore: Settings, job: Job, *flags: str) -> str:
    """cosign sign REF keyless as job (legacy `.sig`, plain HTTP registry); cosign's output."""
    return run_tool(
        cosign,
        "sign",
        *LEGACY,
        "--fulcio-url",
        sigstore.fulcio_url,
        "--rekor-url",
        sigstore.rekor_url,
        "--trusted-root",
        str(sigstore.trusted_root),
        "--allow-http-registry",
        "--allow-insecure-registry",
        "--yes",
        *flags,
        ref,
        env=job.token_env(sigstore),
    )
