"""Admission through the live API server and its webhooks: create without keeping, read refusals.

Shared by the cluster's admission tests (key rendering) and the keyless ones (the release rendering
against the local Sigstore).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.e2e.kube import probe_pod_manifest

BARE_NAMESPACE = "microshop-e2e-admission"


def pod(name: str, image: str) -> dict[str, Any]:
    """An idle Pod by image, in no controller."""
    return probe_pod_manifest(name, image, "default", {"app.kubernetes.io/name": "e2e-admission"})


def create(kube: client.ApiClient, namespace: str, manifest: dict[str, Any]) -> Any:
    """Create through the API server and every admission webhook, without keeping it."""
    kind = manifest["kind"]
    if kind == "Pod":
        return client.CoreV1Api(kube).create_namespaced_pod(namespace, manifest, dry_run="All")
    if kind == "Deployment":
        api = client.AppsV1Api(kube)
        return api.create_namespaced_deployment(namespace, manifest, dry_run="All")
    batch = client.BatchV1Api(kube)
    if kind == "Job":
        return batch.create_namespaced_job(namespace, manifest, dry_run="All")
    return batch.create_namespaced_cron_job(namespace, manifest, dry_run="All")


def denial(kube: client.ApiClient, namespace: str, manifest: dict[str, Any]) -> str:
    """The message of the refusal of creating manifest."""
    return refusal(lambda: create(kube, namespace, manifest))


def refusal(call: Callable[[], Any]) -> str:
    """The message of the 400 that an admission webhook answered to `call`."""
    with pytest.raises(ApiException) as err:
        call()
    assert err.value.status == 400, err.value
    body = str(err.value.body)
    try:
        return str(json.loads(body).get("message", body))
    except json.JSONDecodeError:
        return body


def assert_refused_by(message: str, policy: str, rule: str, phrase: str) -> None:
    """Kyverno's denial names the policy, then the rule with its message."""
    assert "denied the request" in message, message
    assert f"{policy}:" in message, message
    assert f"{rule}:" in message, message
    assert phrase in message, message
