"""Cluster fixtures: this folder runs only when asked (scripts/e2e sets E2E_CLUSTER=1).

Otherwise, or without a reachable cluster, the whole folder skips in one line: a kubeconfig that
happens to point at some cluster must not turn a unit-test run into a run against it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from microshop_ci.gha.images import Image, ImagesFileError, load_images
from tests.conftest import REPO_ROOT, tool_path
from tests.e2e.admitting import BARE_NAMESPACE
from tests.e2e.kube import (
    PROBE_LABEL,
    ProbePod,
    Settings,
    ToolError,
    connect,
    derive_image,
    probe_pod_manifest,
    sign_with_new_key,
)

OTHER_SA = "e2e-other"

NOT_ASKED = "the cluster tests run through scripts/e2e (E2E_CLUSTER=1); this run did not ask"
_CLUSTER = connect() if os.environ.get("E2E_CLUSTER") == "1" else NOT_ASKED  # once, at collection
if isinstance(_CLUSTER, str):
    if os.environ.get("E2E_REQUIRE_CLUSTER") == "1":  # the kind workflow: no silent green
        pytest.exit(f"E2E_REQUIRE_CLUSTER=1 but {_CLUSTER}", returncode=1)
    pytest.skip(_CLUSTER, allow_module_level=True)


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The E2E_* settings (namespace, ingress, images file...)."""
    return Settings.from_env()


@pytest.fixture(scope="session")
def kube() -> client.ApiClient:
    """The cluster the kubeconfig points at (reachable: checked when this folder is collected)."""
    assert not isinstance(_CLUSTER, str)
    return _CLUSTER


@pytest.fixture(scope="session")
def core(kube: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube)


@pytest.fixture(scope="session")
def images(kube: client.ApiClient, settings: Settings) -> dict[str, Image]:
    """Our pushed, signed images (scripts/build-images --out, then scripts/supply-chain)."""
    path = (
        settings.images_file
        if settings.images_file.is_absolute()
        else REPO_ROOT / settings.images_file
    )
    try:
        return load_images(path)
    except ImagesFileError as exc:
        pytest.fail(f"a cluster is configured but the images file is unusable: {exc}")


def _tool(call: Callable[[], str]) -> str:
    try:
        return call()
    except ToolError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def unsigned_image(images: dict[str, Image]) -> str:
    """Our api-service image with a changed config, never signed."""
    crane = tool_path("crane")
    return _tool(lambda: derive_image(crane, images["api-service"], "unsigned"))


@pytest.fixture(scope="session")
def other_key_image(images: dict[str, Image], tmp_path_factory: pytest.TempPathFactory) -> str:
    """Our api-service image with a changed config, signed with a key the cluster does not trust."""
    crane, cosign = tool_path("crane"), tool_path("cosign")
    ref = _tool(lambda: derive_image(crane, images["api-service"], "other-key"))
    keys = tmp_path_factory.mktemp("other-key")
    _tool(lambda: str(sign_with_new_key(cosign, ref, keys)))
    return ref


def _ensure(create: Callable[[], Any]) -> None:
    try:
        create()
    except ApiException as exc:
        if exc.status != 409:  # already there from an earlier run
            raise


@pytest.fixture(scope="session")
def probes(
    core: client.CoreV1Api, settings: Settings, images: dict[str, Image]
) -> Iterator[dict[str, ProbePod]]:
    """Idle pods to run probes from, each with the identity and labels a test needs.

    client:   client-service's ServiceAccount and labels (allowed to api-service)
    other:    client-service's labels, another ServiceAccount (NetworkPolicy allows, mesh must not)
    api:      api-service's ServiceAccount and labels (allowed to MongoDB)
    intruder: api-service's ServiceAccount, a label no NetworkPolicy allows (mesh would allow)
    impostor: api-service's labels, another ServiceAccount (NetworkPolicy allows, mesh must not)
    plain:    client-service's identity and labels but no sidecar (NetworkPolicy allows it,
              so only STRICT mTLS can refuse its plain text)
    outside:  a namespace without sidecars
    """
    ns, out_ns = settings.namespace, settings.outside_namespace
    image = images["api-service"].ref
    _ensure(lambda: core.create_namespace({"metadata": {"name": out_ns}}))
    _ensure(lambda: core.create_namespaced_service_account(ns, {"metadata": {"name": OTHER_SA}}))
    name_label = "app.kubernetes.io/name"
    no_sidecar = {"sidecar.istio.io/inject": "false"}
    specs: dict[str, tuple[str, str, dict[str, str], dict[str, str]]] = {
        "client": (ns, settings.client_sa, {name_label: "client-service"}, {}),
        "other": (ns, OTHER_SA, {name_label: "client-service"}, {}),
        "api": (ns, settings.api_sa, {name_label: "api-service"}, {}),
        "intruder": (ns, settings.api_sa, {name_label: "e2e-intruder"}, {}),
        "impostor": (ns, OTHER_SA, {name_label: "api-service"}, {}),
        # Istio reads the label (current) and the annotation (older releases).
        "plain": (ns, settings.client_sa, {name_label: "client-service", **no_sidecar}, no_sidecar),
        "outside": (out_ns, "default", {name_label: "e2e-outside"}, {}),
    }
    pods: dict[str, ProbePod] = {}
    try:
        for key, (pod_ns, sa, labels, annotations) in specs.items():
            name = f"e2e-probe-{key}"
            manifest = probe_pod_manifest(name, image, sa, labels, annotations)
            _ensure(functools.partial(core.create_namespaced_pod, pod_ns, manifest))
            pods[key] = ProbePod(core, pod_ns, name)
        for pod in pods.values():
            pod.wait_started()
        yield pods
    finally:
        core.delete_collection_namespaced_pod(ns, label_selector=f"{PROBE_LABEL}=true")
        _ignore_missing(lambda: core.delete_namespaced_service_account(OTHER_SA, ns))
        _ignore_missing(lambda: core.delete_namespace(out_ns))


def _ignore_missing(delete: Callable[[], Any]) -> None:
    try:
        delete()
    except ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(scope="module")
def bare_namespace(core: client.CoreV1Api) -> Iterator[str]:
    """A namespace with no Pod Security labels and no mesh: only Kyverno stands in the way."""
    try:
        core.create_namespace({"metadata": {"name": BARE_NAMESPACE}})
    except ApiException as exc:
        if exc.status != 409:
            raise
    namespace = core.read_namespace(BARE_NAMESPACE)
    labels = namespace.metadata.labels or {}
    assert not [k for k in labels if k.startswith("pod-security.kubernetes.io/")], labels
    yield BARE_NAMESPACE
    core.delete_namespace(BARE_NAMESPACE)
