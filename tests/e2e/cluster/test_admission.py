"""Admission, against the live API server and Kyverno's webhook: only our signed images get in.

Every refusal is tried in a namespace without Pod Security Admission labels, so Kyverno alone has to
refuse it, and the test names the policy and rule that did, with a phrase of its message.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from microshop_ci.gha.images import Image
from tests.conftest import tool_path
from tests.e2e import admitting
from tests.e2e.kube import PROPAGATION_TIMEOUT, run_tool
from tests.e2e.waiting import wait_for

pytestmark = pytest.mark.e2e

SIGNATURES = "verify-image-signatures"
SIGNATURE_RULE = "verify-microshop-image-signatures"
PRIVILEGED = "disallow-privileged-containers"  # the policy and its rule have one name
NONROOT = "require-run-as-nonroot"


def _controller(kind: str, pod: dict[str, Any]) -> dict[str, Any]:
    template = {
        "metadata": {"labels": pod["metadata"]["labels"]},
        "spec": copy.deepcopy(pod["spec"]),
    }
    name = f"e2e-{kind.lower()}-{uuid.uuid4().hex[:6]}"
    if kind == "Deployment":
        spec: dict[str, Any] = {
            "replicas": 0,
            "selector": {"matchLabels": pod["metadata"]["labels"]},
            "template": template,
        }
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}
    template["spec"]["restartPolicy"] = "Never"
    job_spec = {"template": template}
    if kind == "Job":
        return {
            "apiVersion": "batch/v1",
            "kind": kind,
            "metadata": {"name": name},
            "spec": job_spec,
        }
    spec = {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": job_spec}}
    return {"apiVersion": "batch/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def test_our_signed_images_are_admitted(
    kube: client.ApiClient, bare_namespace: str, images: dict[str, Image]
) -> None:
    admitted = []
    for name, image in sorted(images.items()):
        pod = admitting.create(kube, bare_namespace, admitting.pod(f"e2e-signed-{name}", image.ref))
        admitted.append((name, pod.spec.containers[0].image))
    assert admitted == [(name, image.ref) for name, image in sorted(images.items())]


def test_a_signed_image_by_tag_is_admitted_pinned_to_its_digest(
    kube: client.ApiClient, bare_namespace: str, images: dict[str, Image]
) -> None:
    image = images["api-service"]
    tag = f"{image.name}:e2e-signed"
    run_tool(tool_path("crane"), "tag", "--insecure", image.ref, "e2e-signed")
    pod = admitting.create(kube, bare_namespace, admitting.pod("e2e-by-tag", tag))
    assert pod.spec.containers[0].image == f"{tag}@{image.digest}"  # mutateDigest pinned the tag


def test_an_unsigned_image_is_refused_by_the_signature_rule(
    kube: client.ApiClient, bare_namespace: str, unsigned_image: str
) -> None:
    message = admitting.denial(kube, bare_namespace, admitting.pod("e2e-unsigned", unsigned_image))
    admitting.assert_refused_by(message, SIGNATURES, SIGNATURE_RULE, "no signatures found")


def test_an_image_signed_with_another_key_is_refused_by_the_signature_rule(
    kube: client.ApiClient, bare_namespace: str, other_key_image: str
) -> None:
    message = admitting.denial(
        kube, bare_namespace, admitting.pod("e2e-other-key", other_key_image)
    )
    admitting.assert_refused_by(message, SIGNATURES, SIGNATURE_RULE, "no matching signatures")


def test_an_image_by_a_tag_that_was_never_pushed_is_refused(
    kube: client.ApiClient, bare_namespace: str, images: dict[str, Image]
) -> None:
    missing = f"{images['api-service'].name}:e2e-never-pushed"
    message = admitting.denial(kube, bare_namespace, admitting.pod("e2e-missing-tag", missing))
    admitting.assert_refused_by(message, SIGNATURES, SIGNATURE_RULE, "e2e-never-pushed")


def test_a_root_container_is_refused_by_require_run_as_nonroot(
    kube: client.ApiClient, bare_namespace: str, images: dict[str, Image]
) -> None:
    pod = admitting.pod("e2e-root", images["api-service"].ref)
    pod["spec"]["securityContext"].update({"runAsNonRoot": False, "runAsUser": 0})
    pod["spec"]["containers"][0]["securityContext"].update({"runAsNonRoot": False, "runAsUser": 0})
    message = admitting.denial(kube, bare_namespace, pod)
    admitting.assert_refused_by(
        message, NONROOT, NONROOT, "set spec.securityContext.runAsNonRoot: true"
    )
    admitting.assert_refused_by(message, NONROOT, "disallow-root-user", "UID 0 is root")


def test_a_privileged_container_is_refused(
    kube: client.ApiClient, bare_namespace: str, images: dict[str, Image]
) -> None:
    pod = admitting.pod("e2e-privileged", images["api-service"].ref)
    # The API server refuses privileged with allowPrivilegeEscalation false as invalid.
    pod["spec"]["containers"][0]["securityContext"].update(
        {"privileged": True, "allowPrivilegeEscalation": True}
    )
    message = admitting.denial(kube, bare_namespace, pod)
    admitting.assert_refused_by(
        message, PRIVILEGED, PRIVILEGED, "Privileged containers are not allowed"
    )


@pytest.mark.parametrize(
    ("kind", "rule"),
    [
        ("Deployment", f"autogen-{SIGNATURE_RULE}"),
        ("Job", f"autogen-{SIGNATURE_RULE}"),
        ("CronJob", f"autogen-cronjob-{SIGNATURE_RULE}"),
    ],
)
def test_an_unsigned_image_in_a_controller_is_refused_by_the_autogen_rule(
    kube: client.ApiClient, bare_namespace: str, unsigned_image: str, kind: str, rule: str
) -> None:
    manifest = _controller(kind, admitting.pod("unused", unsigned_image))
    message = admitting.denial(kube, bare_namespace, manifest)
    admitting.assert_refused_by(message, SIGNATURES, rule, "no signatures found")


def test_a_policy_report_records_a_background_failure(
    kube: client.ApiClient, core: client.CoreV1Api, images: dict[str, Image]
) -> None:
    """A workload whose AuthorizationPolicy is deleted afterwards: admission cannot see that,
    the background scan must, and its PolicyReport says fail for the coverage rule."""
    namespace = f"microshop-e2e-reports-{uuid.uuid4().hex[:6]}"
    custom = client.CustomObjectsApi(kube)
    core.create_namespace(
        {"metadata": {"name": namespace, "labels": {"istio-injection": "enabled"}}}
    )
    try:
        policy = {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "allow-e2e-reports"},
            "spec": {
                "selector": {"matchLabels": {"app.kubernetes.io/name": "e2e-admission"}},
                "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/x/sa/y"]}}]}],
            },
        }
        custom.create_namespaced_custom_object(
            "security.istio.io", "v1", namespace, "authorizationpolicies", policy
        )
        deployment = _controller("Deployment", admitting.pod("unused", images["api-service"].ref))
        created = wait_for(
            lambda: _created_or_none(kube, namespace, deployment),
            what="the covered Deployment is admitted (policy cache up to date)",
            timeout=PROPAGATION_TIMEOUT,
        )
        custom.delete_namespaced_custom_object(
            "security.istio.io", "v1", namespace, "authorizationpolicies", "allow-e2e-reports"
        )
        result = wait_for(
            lambda: _report_result(custom, namespace, created.metadata.uid),
            what="a PolicyReport with the background scan's fail for the Deployment",
            timeout=300,
            interval=5,
        )
        assert result["policy"] == "require-authorizationpolicy-coverage"
        assert result["rule"] == "require-authorizationpolicy-coverage"
        assert "no ALLOW AuthorizationPolicy with rules selects" in result["message"]
    finally:
        core.delete_namespace(namespace)


def _created_or_none(kube: client.ApiClient, namespace: str, manifest: dict[str, Any]) -> Any:
    try:
        return client.AppsV1Api(kube).create_namespaced_deployment(namespace, manifest)
    except ApiException as exc:
        if exc.status == 400:  # the AuthorizationPolicy is not in Kyverno's view yet
            return None
        raise


def _report_result(custom: client.CustomObjectsApi, namespace: str, uid: str) -> Any:
    reports = custom.list_namespaced_custom_object(
        "wgpolicyk8s.io", "v1alpha2", namespace, "policyreports"
    )["items"]
    for report in reports:
        if report.get("scope", {}).get("uid") != uid:
            continue
        for result in report.get("results", []):
            if result.get("result") == "fail":
                return result
    return None


# An attacker who can push to the registry but holds no signing key: every way an image reference
# reaches a container must be verified at the digest it resolves to now, not at an earlier one.

# Where Kyverno records what it verified: per image, and per policy, rule and image (the record
# that it reads back on an update to skip an unchanged image).
VERIFY_IMAGES_ANNOTATION = "kyverno.io/verify-images"
VERIFY_IMAGES_SCOPED_ANNOTATION = "kyverno.io/verify-images-scoped"


@dataclass(frozen=True)
class MovingTag:
    """A tag of our api-service repository that starts on the signed image and can be moved."""

    image: Image
    unsigned: str  # NAME@sha256:... of a copy nobody signed
    tag: str

    @property
    def ref(self) -> str:
        return f"{self.image.name}:{self.tag}"

    @property
    def signed_pin(self) -> str:
        """What mutateDigest makes of the tag while it names the signed image."""
        return f"{self.ref}@{self.image.digest}"

    def move_to_unsigned(self) -> None:
        run_tool(tool_path("crane"), "tag", "--insecure", self.unsigned, self.tag)


@pytest.fixture
def moving_tag(images: dict[str, Image], unsigned_image: str) -> MovingTag:
    tag = MovingTag(images["api-service"], unsigned_image, f"e2e-moved-{uuid.uuid4().hex[:8]}")
    run_tool(tool_path("crane"), "tag", "--insecure", tag.image.ref, tag.tag)
    return tag


@pytest.fixture
def running_pod(core: client.CoreV1Api, bare_namespace: str) -> Iterator[Callable[[str], Any]]:
    """Create real (not dry-run) pods by image reference; deleted after the test."""
    created: list[str] = []

    def create(image: str) -> Any:
        name = f"e2e-running-{uuid.uuid4().hex[:8]}"
        pod = core.create_namespaced_pod(bare_namespace, admitting.pod(name, image))
        created.append(name)
        return pod

    yield create
    for name in created:
        core.delete_namespaced_pod(name, bare_namespace, grace_period_seconds=0)


def test_a_pod_by_a_tag_moved_to_an_unsigned_image_is_refused(
    kube: client.ApiClient, bare_namespace: str, moving_tag: MovingTag
) -> None:
    first = admitting.create(kube, bare_namespace, admitting.pod("e2e-moved-first", moving_tag.ref))
    assert first.spec.containers[0].image == moving_tag.signed_pin
    moving_tag.move_to_unsigned()
    message = admitting.denial(
        kube, bare_namespace, admitting.pod("e2e-moved-second", moving_tag.ref)
    )
    admitting.assert_refused_by(message, SIGNATURES, SIGNATURE_RULE, "no signatures found")


def test_a_deployment_rolled_out_to_a_moved_tag_is_refused(
    kube: client.ApiClient, bare_namespace: str, moving_tag: MovingTag
) -> None:
    apps = client.AppsV1Api(kube)
    manifest = _controller("Deployment", admitting.pod("unused", moving_tag.ref))
    created = apps.create_namespaced_deployment(bare_namespace, manifest)
    name = created.metadata.name
    try:
        assert created.spec.template.spec.containers[0].image == moving_tag.signed_pin
        moving_tag.move_to_unsigned()
        rollout = [
            {
                "op": "replace",
                "path": "/spec/template/spec/containers/0/image",
                "value": moving_tag.ref,
            }
        ]
        message = admitting.refusal(
            lambda: apps.patch_namespaced_deployment(name, bare_namespace, rollout)
        )
        admitting.assert_refused_by(
            message, SIGNATURES, f"autogen-{SIGNATURE_RULE}", "no signatures found"
        )
        stored = apps.read_namespaced_deployment(name, bare_namespace)
        assert stored.spec.template.spec.containers[0].image == moving_tag.signed_pin
    finally:
        apps.delete_namespaced_deployment(name, bare_namespace)


def test_a_running_pod_whose_image_is_changed_to_a_moved_tag_is_refused(
    core: client.CoreV1Api,
    bare_namespace: str,
    moving_tag: MovingTag,
    running_pod: Callable[[str], Any],
) -> None:
    pod = running_pod(moving_tag.ref)
    assert pod.spec.containers[0].image == moving_tag.signed_pin
    moving_tag.move_to_unsigned()
    change = [{"op": "replace", "path": "/spec/containers/0/image", "value": moving_tag.ref}]
    name = pod.metadata.name
    message = admitting.refusal(lambda: core.patch_namespaced_pod(name, bare_namespace, change))
    admitting.assert_refused_by(message, SIGNATURES, SIGNATURE_RULE, "no signatures found")
    stored = core.read_namespaced_pod(name, bare_namespace)
    assert stored.spec.containers[0].image == moving_tag.signed_pin


def test_a_forged_verification_record_does_not_let_an_unsigned_image_in(
    core: client.CoreV1Api,
    bare_namespace: str,
    images: dict[str, Image],
    unsigned_image: str,
    running_pod: Callable[[str], Any],
) -> None:
    pod = running_pod(images["api-service"].ref)
    scoped = {
        "version": 1,
        "policies": {f"/{SIGNATURES}": {SIGNATURE_RULE: {unsigned_image: "pass"}}},
    }
    forged = {
        VERIFY_IMAGES_ANNOTATION: json.dumps({unsigned_image: "pass"}),
        VERIFY_IMAGES_SCOPED_ANNOTATION: json.dumps(scoped),
    }
    change = [{"op": "replace", "path": "/spec/containers/0/image", "value": unsigned_image}]
    for key, value in forged.items():
        path = "/metadata/annotations/" + key.replace("/", "~1")
        change.append({"op": "add", "path": path, "value": value})
    name = pod.metadata.name
    message = admitting.refusal(lambda: core.patch_namespaced_pod(name, bare_namespace, change))
    admitting.assert_refused_by(message, SIGNATURES, SIGNATURE_RULE, "no signatures found")
    stored = core.read_namespaced_pod(name, bare_namespace)
    assert stored.spec.containers[0].image == images["api-service"].ref


def test_an_ephemeral_container_with_an_unsigned_image_is_refused(
    core: client.CoreV1Api,
    bare_namespace: str,
    images: dict[str, Image],
    unsigned_image: str,
    running_pod: Callable[[str], Any],
) -> None:
    """`kubectl debug` adds a container to a running pod through a subresource of its own."""
    pod = running_pod(images["api-service"].ref)
    debug = {
        "name": "debug",
        "image": unsigned_image,
        "command": ["python3", "-c", "pass"],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    body = {"spec": {"ephemeralContainers": [debug]}}
    name = pod.metadata.name
    message = admitting.refusal(
        lambda: core.patch_namespaced_pod_ephemeralcontainers(name, bare_namespace, body)
    )
    admitting.assert_refused_by(message, SIGNATURES, SIGNATURE_RULE, "no signatures found")
    stored = core.read_namespaced_pod(name, bare_namespace)
    assert not stored.spec.ephemeral_containers


def test_a_signed_tag_pinned_to_an_unsigned_digest_is_refused(
    kube: client.ApiClient, bare_namespace: str, moving_tag: MovingTag
) -> None:
    """kubelet pulls by the digest, so the digest is what must be verified, not the tag."""
    unsigned_digest = moving_tag.unsigned.split("@", 1)[1]
    pod = admitting.pod("e2e-tag-and-digest", f"{moving_tag.ref}@{unsigned_digest}")
    message = admitting.denial(kube, bare_namespace, pod)
    admitting.assert_refused_by(message, SIGNATURES, SIGNATURE_RULE, "no signatures found")
