"""Admission: only our signed images, by digest, in pods that meet the bar, get into the cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from microshop_ci.gha.images import Image
from tests.e2e.kube import Settings, probe_pod_manifest

pytestmark = pytest.mark.e2e

SIGNATURE_POLICY = "verify-image-signatures"


def _dry_run_create(core: client.CoreV1Api, namespace: str, pod: dict[str, Any]) -> None:
    """Ask the API server (and every admission webhook) to create the pod, without keeping it."""
    core.create_namespaced_pod(namespace, pod, dry_run="All")


def _denial(core: client.CoreV1Api, namespace: str, pod: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as err:
        _dry_run_create(core, namespace, pod)
    assert err.value.status in (400, 403), err.value
    body = str(err.value.body)
    try:
        return str(json.loads(body).get("message", body))
    except json.JSONDecodeError:
        return body


def _pod(name: str, image: str) -> dict[str, Any]:
    return probe_pod_manifest(name, image, "default", {"app.kubernetes.io/name": "e2e-admission"})


def test_our_signed_images_are_admitted(
    core: client.CoreV1Api, settings: Settings, images: dict[str, Image]
) -> None:
    for service, image in sorted(images.items()):
        _dry_run_create(core, settings.namespace, _pod(f"e2e-signed-{service}", image.ref))


def test_an_unsigned_image_is_rejected_with_kyvernos_message(
    core: client.CoreV1Api, settings: Settings, unsigned_image: str
) -> None:
    message = _denial(core, settings.namespace, _pod("e2e-unsigned", unsigned_image))
    assert "denied the request" in message
    assert SIGNATURE_POLICY in message


def test_an_image_signed_with_another_key_is_rejected(
    core: client.CoreV1Api, settings: Settings, other_key_image: str
) -> None:
    message = _denial(core, settings.namespace, _pod("e2e-other-key", other_key_image))
    assert "denied the request" in message
    assert SIGNATURE_POLICY in message


def test_a_pod_running_as_root_is_rejected(
    core: client.CoreV1Api, settings: Settings, images: dict[str, Image]
) -> None:
    pod = _pod("e2e-root", images["api-service"].ref)
    pod["spec"]["securityContext"].update({"runAsNonRoot": False, "runAsUser": 0})
    message = _denial(core, settings.namespace, pod)
    assert "denied the request" in message or "violates PodSecurity" in message


def test_a_privileged_pod_is_rejected(
    core: client.CoreV1Api, settings: Settings, images: dict[str, Image]
) -> None:
    pod = _pod("e2e-privileged", images["api-service"].ref)
    pod["spec"]["containers"][0]["securityContext"].update(
        {"privileged": True, "allowPrivilegeEscalation": True}
    )
    message = _denial(core, settings.namespace, pod)
    assert "denied the request" in message or "violates PodSecurity" in message


def test_our_image_by_tag_is_rejected(
    core: client.CoreV1Api, settings: Settings, images: dict[str, Image]
) -> None:
    message = _denial(
        core, settings.namespace, _pod("e2e-by-tag", f"{images['api-service'].name}:latest")
    )
    assert "denied the request" in message
