"""RBAC: api-service's ServiceAccount may get pods and may not delete them, nothing more."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.e2e.kube import Settings

pytestmark = pytest.mark.e2e


def _allowed(kube: client.ApiClient, settings: Settings, verb: str, resource: str) -> bool:
    user = f"system:serviceaccount:{settings.namespace}:{settings.api_sa}"
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=user,
            groups=[
                "system:serviceaccounts",
                f"system:serviceaccounts:{settings.namespace}",
                "system:authenticated",
            ],
            resource_attributes=client.V1ResourceAttributes(
                namespace=settings.namespace, verb=verb, resource=resource
            ),
        )
    )
    answer = client.AuthorizationV1Api(kube).create_subject_access_review(review)
    return bool(answer.status.allowed)


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [
        ("get", "pods", True),
        ("delete", "pods", False),
        ("create", "pods", False),
        ("get", "secrets", False),
        ("list", "secrets", False),
    ],
)
def test_api_service_account_permissions(
    kube: client.ApiClient, settings: Settings, verb: str, resource: str, allowed: bool
) -> None:
    assert _allowed(kube, settings, verb, resource) is allowed
