"""Kyverno on the cluster: its chart and its images, both from the pinned Go module.

The chart is the module's charts/kyverno (chart 3.9.0 = Kyverno v1.19.0). Three of its
dependencies are not in the module (kyverno-api, openreports, reports-server) and Helm checks every
listed dependency before its condition, so a copy without them is installed, with the
policies.kyverno.io CRDs (which kyverno-api would bring) applied from the module's config/crds.

The images are built from the same module on GitHub and here (upstream's are on a registry this
machine cannot reach, and a tag there is not a pin): each controller FROM scratch with the CA
bundle, uid 65534, pushed to the run's registry and given to the chart by digest, so the cluster
runs exactly what was built.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from microshop_ci.cluster import images
from microshop_ci.cluster.kind import kubectl, log_path, tool
from microshop_ci.cluster.pins import pin
from microshop_ci.cluster.run import run
from microshop_ci.core.gobuild import GoComponent, build, cache_root, locked, module_dir

COMMANDS = (
    "kyverno",
    "kyverno-init",
    "background-controller",
    "cleanup-controller",
    "reports-controller",
    "readiness-checker",
)
KYVERNO = GoComponent(
    name="kyverno",
    module="github.com/kyverno/kyverno",
    pin_key="KYVERNO_VERSION",
    packages=tuple(f"./cmd/{command}" for command in COMMANDS),
    ldflags=lambda v: f"-s -w -X github.com/kyverno/kyverno/pkg/version.BuildVersion={v}",
)
COMPONENTS = (KYVERNO,)
CLI_IMAGE = "kyverno-cli"  # the chart's CRD-migration hook runs the Kyverno CLI (scripts/tool)
MISSING_DEPENDENCIES = {"kyverno-api", "openreports", "reports-server"}
# Chart value prefix -> the image it runs.
CHART_IMAGES = {
    "admissionController.initContainer.image": "kyverno-init",
    "admissionController.container.image": "kyverno",
    "backgroundController.image": "background-controller",
    "cleanupController.image": "cleanup-controller",
    "reportsController.image": "reports-controller",
    "crds.migration.image": CLI_IMAGE,
    "webhooksCleanup.image": "readiness-checker",
    "test.image": "readiness-checker",
}
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def module() -> Path:
    """The pinned Kyverno module's folder (read-only, in the Go module cache)."""
    return module_dir(KYVERNO.module, pin(KYVERNO.pin_key), log_path())


def chart() -> Path:
    """A copy of the module's chart without the dependencies the module does not carry."""
    target = cache_root() / "cluster" / "kyverno-chart" / pin(KYVERNO.pin_key) / "kyverno"
    with locked(target.parent / ".lock"):
        if (target / "Chart.yaml").exists():
            return target
        source = module() / "charts" / "kyverno"
        staging = target.with_name("kyverno.partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging)
        for path in [staging, *staging.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
        spec = yaml.safe_load((staging / "Chart.yaml").read_text())
        spec["dependencies"] = [
            dep for dep in spec.get("dependencies", []) if dep["name"] not in MISSING_DEPENDENCIES
        ]
        (staging / "Chart.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        (staging / "Chart.lock").unlink(missing_ok=True)
        staging.rename(target)
    return target


def dockerfile(command: str) -> str:
    """FROM scratch: the command and the CA bundle, as an unprivileged user."""
    return (
        f"FROM scratch\nCOPY {command} /{command}\n"
        "COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt\n"
        f'USER 65534:65534\nENTRYPOINT ["/{command}"]\n'
    )


def build_images() -> dict[str, str]:
    """Build and push every image the chart runs; return name -> REGISTRY/kyverno/NAME@sha256:."""
    out = build(KYVERNO)
    binaries = {command: out / command for command in COMMANDS}
    binaries[CLI_IMAGE] = Path(tool("kyverno"))
    refs = {}
    for name, binary in binaries.items():
        command = "kyverno" if name == CLI_IMAGE else name
        tag = f"{images.registry()}/kyverno/{name}:{pin(KYVERNO.pin_key)}"
        refs[name] = images.build_and_push(
            tag, dockerfile(command), {command: binary, CA_BUNDLE.name: CA_BUNDLE}
        )
    return refs


def image_values(refs: dict[str, str]) -> list[str]:
    """--set values naming each chart image by digest (the chart joins registry/repo:tag)."""
    values = []
    for prefix, name in CHART_IMAGES.items():
        repository, _, digest = refs[name].partition("@")
        registry, _, path = repository.partition("/")
        values += [
            f"{prefix}.registry={registry}",
            f"{prefix}.repository={path}",
            f"{prefix}.tag={pin(KYVERNO.pin_key)}@{digest}",
            f"{prefix}.pullPolicy=IfNotPresent",
        ]
    return values


def install() -> None:
    """Kyverno's CRDs and chart, its images built here; waits until its Deployments are ready."""
    crds = module() / "config" / "crds" / "policies.kyverno.io"
    run(
        [kubectl(), "apply", "--server-side", "-f", str(crds)],
        step="kubectl apply Kyverno policies.kyverno.io CRDs",
        log=log_path(),
    )
    values = [
        "features.registryClient.allowInsecure=true",
        "admissionController.replicas=1",
        # A test cluster: the background scan re-checks existing resources every minute, not hour.
        "features.backgroundScan.backgroundScanInterval=1m",
        # A two-core kind node: the chart's 100m CPU request per controller left the e2e probe
        # pods unschedulable (measured: 2,050m of 2,000m requested). Limits stay the chart's.
        *(
            f"{prefix}.resources.requests.cpu=10m"
            for prefix in (
                "admissionController.container",
                "backgroundController",
                "cleanupController",
                "reportsController",
            )
        ),
        *image_values(build_images()),
    ]
    argv = [
        tool("helm"),
        "upgrade",
        "--install",
        "kyverno",
        str(chart()),
        "--namespace",
        "kyverno",
        "--create-namespace",
        "--wait",
        "--timeout",
        "10m",
    ]
    for value in values:
        argv += ["--set", value]
    run(argv, step="helm upgrade --install kyverno (chart in the Kyverno module)", log=log_path())
