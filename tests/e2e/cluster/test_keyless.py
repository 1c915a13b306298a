"""The release rendering of verify-image-signatures admits and refuses in the live cluster.

For this module the live policy is the keyless-local rendering: the release policy (this
repository's release.yml on a vX.Y.Z tag, logged in Rekor, with the release workflow's SLSA
provenance) trusting the local Sigstore of `microshop sigstore` instead of the public one. The key
rendering is put back afterwards. Images are copies of our api-service image, each signed keyless
by one workflow identity through the token service stand-in, the local Fulcio and Rekor.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client

from microshop_ci.gha.images import Image
from microshop_ci.k8s import live_policy, policies
from microshop_ci.sign import provenance
from microshop_ci.sigstore.jobs import Job
from microshop_ci.sigstore.settings import Settings, settings
from microshop_ci.sigstore.stack import status
from tests.conftest import REPO_ROOT, tool_path
from tests.e2e import admitting
from tests.e2e.keyless import SHA, attest, sign
from tests.e2e.kube import derive_image, run_tool

pytestmark = pytest.mark.e2e

SIGNATURES = "verify-image-signatures"
SIGNATURE_RULE = "verify-microshop-image-signatures"
REPOSITORY = policies.DEFAULT_REPOSITORY
RELEASE = Job(REPOSITORY, "release.yml", "refs/tags/v0.0.1", SHA)


@pytest.fixture(scope="module")
def sigstore() -> Settings:
    """The local Sigstore the cluster run started (microshop sigstore up): every part answers."""
    local = settings()
    down = [name for name, answers in status(local) if not answers]
    if down:
        pytest.fail(f"the local Sigstore is not up ({', '.join(down)}): run microshop sigstore up")
    return local


@pytest.fixture(scope="module")
def keyless_policy(kube: client.ApiClient, sigstore: Settings) -> Iterator[None]:
    """The keyless-local rendering in force for this module, the key rendering restored after."""
    trust = policies.SigstoreTrust(
        issuer=sigstore.issuer_url,
        rekor_url=sigstore.rekor_url,
        rekor_public_key=sigstore.keys.rekor_public.read_text(),
        fulcio_roots=sigstore.keys.fulcio_root.read_text(),
    )
    rendered = policies.render("keyless-local", REPOSITORY, trust=trust)
    [keyless] = [p for p in rendered if p["metadata"]["name"] == SIGNATURES]
    custom = client.CustomObjectsApi(kube)
    original = live_policy.read(custom, SIGNATURES)["spec"]
    live_policy.change(custom, SIGNATURES, live_policy.set_spec(keyless["spec"]))
    try:
        yield
    finally:
        live_policy.change(custom, SIGNATURES, live_policy.set_spec(original))


def _release_subject() -> str:
    """The identity pattern the release rendering requires of a signature."""
    [policy] = [
        p for p in policies.render("release", REPOSITORY) if p["metadata"]["name"] == SIGNATURES
    ]
    subject: str = policy["spec"]["rules"][0]["verifyImages"][0]["attestors"][0]["entries"][0][
        "keyless"
    ]["subjectRegExp"]
    return subject


def _copy(images: dict[str, Image], label: str) -> str:
    """A copy of our api-service image with a digest of this run's own: no signature of an
    earlier run (the local Rekor and registry keep them) is on it."""
    return derive_image(
        tool_path("crane"), images["api-service"], f"{label}-{uuid.uuid4().hex[:8]}"
    )


@pytest.fixture(scope="module")
def released(
    images: dict[str, Image], sigstore: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """A copy released as release.yml does, by `scripts/supply-chain --mode keyless-local` (SBOM,
    signature, SBOM and provenance attestations, verification) as release.yml on tag v0.0.1."""
    ref = _copy(images, "keyless-release")
    folder = tmp_path_factory.mktemp("keyless-release")
    (folder / "images.json").write_text(json.dumps({"api-service": {"ref": ref}}))
    env = {"MICROSHOP_RELEASE_TAG": "v0.0.1", "MICROSHOP_REGISTRY_PLAIN_HTTP": "true"}
    script = str(REPO_ROOT / "scripts" / "supply-chain")
    out = folder / "out"
    images_file = str(folder / "images.json")
    run_tool(
        script, "--mode", "keyless-local", "--images", images_file, "--out-dir", str(out), env=env
    )
    return ref, out / "api-service"


@dataclass(frozen=True)
class Cluster:
    """The live cluster under the keyless-local rendering: copies signed as a job, and what
    Kyverno answers to a Pod by them."""

    kube: client.ApiClient
    namespace: str
    images: dict[str, Image]
    sigstore: Settings

    def signed_as(self, job: Job, label: str, *flags: str) -> str:
        """A fresh copy of our api-service image signed keyless as job."""
        ref = _copy(self.images, label)
        sign(tool_path("cosign"), ref, self.sigstore, job, *flags)
        return ref

    def assert_refused(self, label: str, ref: str, phrase: str) -> None:
        """A Pod by ref is refused by the signature rule, with phrase in its message."""
        message = admitting.denial(self.kube, self.namespace, admitting.pod(f"e2e-{label}", ref))
        admitting.assert_refused_by(message, SIGNATURES, SIGNATURE_RULE, phrase)


@pytest.fixture(scope="module")
def cluster(
    kube: client.ApiClient,
    bare_namespace: str,
    keyless_policy: None,
    images: dict[str, Image],
    sigstore: Settings,
) -> Cluster:
    """The cluster with the keyless-local rendering in force for this module."""
    return Cluster(kube, bare_namespace, images, sigstore)


def test_an_image_released_keyless_is_admitted_pinned_by_digest(
    kube: client.ApiClient, bare_namespace: str, keyless_policy: None, released: tuple[str, Path]
) -> None:
    ref, _ = released
    name, digest = ref.split("@", 1)
    run_tool(tool_path("crane"), "tag", "--insecure", ref, "e2e-keyless-release")
    tag = f"{name}:e2e-keyless-release"
    pod = admitting.create(kube, bare_namespace, admitting.pod("e2e-keyless-release", tag))
    assert pod.spec.containers[0].image == f"{tag}@{digest}"


def test_the_release_signature_names_the_release_workflow_and_is_in_rekor(
    sigstore: Settings, released: tuple[str, Path]
) -> None:
    _, folder = released
    [verified] = json.loads((folder / "verify.json").read_text())
    optional: dict[str, Any] = verified["optional"]
    assert (optional["Subject"], optional["Issuer"]) == (RELEASE.identity, sigstore.issuer_url)
    payload = optional["Bundle"]["Payload"]
    answer = httpx.get(
        f"{sigstore.rekor_url}/api/v1/log/entries", params={"logIndex": payload["logIndex"]}
    )
    assert answer.status_code == 200, answer.text
    [entry] = answer.json().values()
    assert entry["integratedTime"] == payload["integratedTime"]
    assert entry["body"] == payload["body"]
    body = json.loads(base64.b64decode(entry["body"]))
    assert body["kind"] == "hashedrekord"


@pytest.mark.parametrize(
    ("label", "job"),
    [
        ("keyless-pr", Job(REPOSITORY, "pr.yml", "refs/pull/1/merge", SHA, "pull_request")),
        ("keyless-branch", Job(REPOSITORY, "release.yml", "refs/heads/main", SHA)),
        ("keyless-other-repo", Job("someone-else/shop", "release.yml", "refs/tags/v0.0.1", SHA)),
    ],
)
def test_a_signature_by_another_identity_is_refused(cluster: Cluster, label: str, job: Job) -> None:
    ref = cluster.signed_as(job, label)
    expected = _release_subject()
    mismatch = f"keyless: subject mismatch: expected {expected}, received {job.identity}"
    cluster.assert_refused(label, ref, mismatch)


def test_a_signature_without_a_rekor_entry_is_refused(cluster: Cluster) -> None:
    ref = cluster.signed_as(RELEASE, "keyless-no-tlog", "--tlog-upload=false")
    missing = "keyless: no matching signatures: signature not found in transparency log"
    cluster.assert_refused("keyless-no-tlog", ref, missing)


def test_a_release_signature_without_the_provenance_is_refused(cluster: Cluster) -> None:
    ref = cluster.signed_as(RELEASE, "keyless-no-provenance")
    none = "image attestations verification failed, verifiedCount: 0, requiredCount: 1, error: "
    cluster.assert_refused("keyless-no-prov", ref, none + "no matching attestations")


def test_a_provenance_naming_another_repository_is_refused_by_its_conditions(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Signed and attested by the release identity, but the provenance says another repository's
    workflow built it: the attestation's conditions refuse it."""
    ref = cluster.signed_as(RELEASE, "keyless-foreign-provenance")
    foreign = Job("someone-else/shop", "release.yml", RELEASE.ref, SHA)
    predicate = provenance.write(tmp_path / "provenance.json", foreign.runner_env())
    attest(tool_path("cosign"), ref, cluster.sigstore, RELEASE, "slsaprovenance1", predicate)
    failed = f"attestation checks failed for {ref} and predicate {provenance.PREDICATE_TYPE}"
    cluster.assert_refused("keyless-foreign", ref, failed)


def test_a_key_signed_image_is_refused_by_the_keyless_rule(cluster: Cluster) -> None:
    """Our own images, signed with the local key (admitted under the key rendering)."""
    no_certificate = ".attestors[0].entries[0].keyless: no matching signatures"
    cluster.assert_refused("keyless-key", cluster.images["api-service"].ref, no_certificate)
