"""Kyverno alone keeps the Pod Security Standards: in a namespace without Pod Security Admission
labels, the API server (server-side dry run, every admission webhook) refuses each case of the
pod-security suites as a Pod and as each controller, naming the Kyverno policy and rule, and
admits the compliant pod and the pod with Istio's injected sidecar."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from microshop_ci.gha.images import Image
from microshop_ci.k8s import pss_suites
from microshop_ci.k8s.pss_controls import PSS_POLICY, PSS_RULE, SUITES, Case, Suite
from tests.e2e.kube import Settings
from tests.e2e.waiting import wait_for

pytestmark = pytest.mark.e2e

PSA_LABEL = "pod-security.kubernetes.io/"
Create = Callable[[str, dict[str, Any]], Any]

BAD = [(s, c) for s in SUITES for c in s.cases if c.fails]
GOOD = list({c.name: c for s in SUITES for c in pss_suites.suite_cases(s) if not c.fails}.values())


def _ids(item: tuple[Suite, Case] | Case) -> str:
    return item.name if isinstance(item, Case) else item[1].name


@pytest.fixture(scope="module")
def bare_namespace(core: client.CoreV1Api, settings: Settings) -> Iterator[str]:
    """A namespace without any pod-security.kubernetes.io label: only Kyverno stands guard."""
    name = f"{settings.namespace}-e2e-pss"

    def active() -> bool:  # a namespace left Terminating by an earlier run must go first
        try:
            core.create_namespace({"metadata": {"name": name}})
        except ApiException as exc:
            if exc.status != 409:
                raise
        return bool(core.read_namespace(name).status.phase == "Active")

    wait_for(active, what=f"namespace {name} active", timeout=180, retry_on=(ApiException,))
    labels = core.read_namespace(name).metadata.labels or {}
    assert [k for k in labels if k.startswith(PSA_LABEL)] == []
    # The ServiceAccount admission plugin refuses pods until the namespace's default account exists.
    wait_for(
        lambda: core.read_namespaced_service_account("default", name),
        what=f"ServiceAccount {name}/default",
        timeout=60,
        retry_on=(ApiException,),
    )
    try:
        yield name
    finally:
        core.delete_namespace(name)


@pytest.fixture(scope="module")
def creators(kube: client.ApiClient) -> dict[str, Create]:
    """kind -> a server-side dry-run create (every admission webhook runs; nothing is kept)."""
    core, apps, batch = client.CoreV1Api(kube), client.AppsV1Api(kube), client.BatchV1Api(kube)
    return {
        "Pod": lambda ns, body: core.create_namespaced_pod(ns, body, dry_run="All"),
        "Deployment": lambda ns, body: apps.create_namespaced_deployment(ns, body, dry_run="All"),
        "StatefulSet": lambda ns, body: apps.create_namespaced_stateful_set(
            ns, body, dry_run="All"
        ),
        "Job": lambda ns, body: batch.create_namespaced_job(ns, body, dry_run="All"),
        "CronJob": lambda ns, body: batch.create_namespaced_cron_job(ns, body, dry_run="All"),
    }


def _live(case: Case, kind: str, namespace: str, image: str) -> dict[str, Any]:
    """The suite's resource, valid for a real API server, in `namespace`, with our signed image
    in every container (the sidecar's image allow-listing is not what this test is about)."""
    pod = pss_suites.case_pod(case, live=True)
    pod["metadata"]["namespace"] = namespace
    for key in ("containers", "initContainers"):
        for container in pod["spec"].get(key, []):
            container["image"] = image
    return pss_suites.as_kind(pod, kind, pss_suites.resource_name(case, kind))


def _denial(create: Create, namespace: str, body: dict[str, Any]) -> str:
    with pytest.raises(ApiException) as err:
        create(namespace, body)
    assert err.value.status in (400, 403), err.value
    text = str(err.value.body)
    try:
        return str(json.loads(text).get("message", text))
    except json.JSONDecodeError:
        return text


@pytest.mark.parametrize("kind", pss_suites.KINDS)
@pytest.mark.parametrize(("suite", "case"), BAD, ids=[_ids(b) for b in BAD])
def test_kyverno_alone_refuses_each_breach_naming_policy_and_rule(
    suite: Suite,
    case: Case,
    kind: str,
    bare_namespace: str,
    creators: dict[str, Create],
    images: dict[str, Image],
) -> None:
    body = _live(case, kind, bare_namespace, images["api-service"].ref)
    message = _denial(creators[kind], bare_namespace, body)
    assert "denied the request" in message, message
    # Pod Security Admission would answer "... is forbidden: violates PodSecurity": the namespace
    # has no PSA labels, so only Kyverno's webhook (whose podSecurity rule also says "violates
    # PodSecurity", after "denied the request") may refuse.
    assert "is forbidden: violates PodSecurity" not in message, message
    assert f"{suite.policy}:" in message, message
    for rule in case.fails:
        assert f"{pss_suites.rule_for(rule, kind)}:" in message, message
    if case.pss and kind not in case.pss_misses:
        assert f"{PSS_POLICY}:" in message, message
        assert f"{pss_suites.rule_for(PSS_RULE, kind)}:" in message, message


@pytest.mark.parametrize("kind", pss_suites.KINDS)
@pytest.mark.parametrize("case", GOOD, ids=[_ids(g) for g in GOOD])
def test_compliant_resources_and_the_istio_sidecar_are_admitted(
    case: Case,
    kind: str,
    bare_namespace: str,
    creators: dict[str, Create],
    images: dict[str, Image],
) -> None:
    body = _live(case, kind, bare_namespace, images["api-service"].ref)
    creators[kind](bare_namespace, body)
