"""The `microshop` program's subcommands: name, group, module and one line each (no imports).

A table of module names, not of imported modules, so that `microshop --help` and the set-up
commands that run with the system Python (setup, dockerd, tool, registry, ...) import nothing
but the standard library: the chosen subcommand's module is imported alone, when it runs. Each
module named here has `configure(parser)` (its arguments) and `run_command(args) -> int` (its work).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One subcommand: `microshop NAME`, listed under GROUP, run by MODULE's configure/run."""

    name: str
    group: str
    module: str
    summary: str


GROUPS = (
    ("pipeline", "the whole run"),
    ("stages", "one stage or step of the pipeline"),
    ("release", "publishing a release"),
    ("cluster", "Kubernetes"),
    ("services", "things that run on this machine"),
    ("tools", "this machine and its pinned tools"),
    ("github", "GitHub workflow steps"),
    ("internal", "steps other commands start"),
)

_P = "microshop_ci."
COMMANDS = (
    Command("pipeline", "pipeline", _P + "pipeline.cli", "the stages in order, one report"),
    Command("test", "pipeline", _P + "checks.cli", "lint, type-check, tests, then the cluster"),
    Command("rescan", "pipeline", _P + "rescan.cli", "re-scan released images"),
    Command("gates", "stages", _P + "gates.cli", "the security gates under policies/gates"),
    Command("runtime-rules", "stages", _P + "runtime.cli", "check or evaluate runtime rules"),
    Command("base-image", "stages", _P + "build.base_image", "build the local base images"),
    Command("build-images", "stages", _P + "build.images", "build the service images"),
    Command("scan-images", "stages", _P + "gates.scan_images", "the image gates, by digest"),
    Command("sign", "stages", _P + "sign.cli", "SBOM, signature, attestation, verification"),
    Command("admission-check", "stages", _P + "admission.check", "manifests through Kyverno"),
    Command("kyverno-test", "stages", _P + "admission.suites", "every policy's CLI tests"),
    Command("validate-manifests", "stages", _P + "admission.validate", "validate overlays"),
    Command("smoke", "stages", _P + "smoke.cli", "the signed images together, one real order"),
    Command("promote-images", "release", _P + "build.promote", "copy images by digest"),
    Command("tag-release", "release", _P + "build.release_tag", "tag released images vX.Y.Z"),
    Command("verify-release", "release", _P + "sign.release", "verify a released image"),
    Command("cluster", "cluster", _P + "cluster.cli", "the kind cluster: up, down, e2e, ..."),
    Command("e2e", "cluster", _P + "checks.e2e", "tests/e2e against the current cluster"),
    Command("render-manifests", "cluster", _P + "k8s.render_cli", "render one overlay"),
    Command("deploy-secrets", "cluster", _P + "k8s.secrets", "create the shop's Secrets"),
    Command("pss-suites", "cluster", _P + "k8s.pss_suites", "the pod-security policy suites"),
    Command("mongodb-replset", "services", _P + "checks.replset", "MongoDB replica set: up|down"),
    Command("runtime-sensor", "services", _P + "runtime.sensor.run", "the runtime sensor (root)"),
    Command("compose", "services", _P + "smoke.compose", "the shop on this machine: up|down"),
    Command("registry", "services", _P + "core.registry", "the local OCI registry"),
    Command("osv-server", "services", _P + "osv.cli", "serve an OSV export for pip-audit"),
    Command("secrets", "services", _P + "secrets.cli", "OpenBao for the shop's secrets"),
    Command("sigstore", "services", _P + "sigstore.stack", "the local Sigstore"),
    Command("benchmark", "services", _P + "bench.run", "load-test api-service with wrk"),
    Command("benchmark-admission", "services", _P + "bench.admission", "admission cost"),
    Command("setup", "tools", _P + "bootstrap.setup", "set up this machine"),
    Command("dockerd", "tools", _P + "bootstrap.dockerd", "start the Docker engine"),
    Command("tool", "tools", _P + "core.gotools", "build a pinned tool, print its path"),
    Command("tool-archive", "tools", _P + "core.tool_archive", "carry built tools between jobs"),
    Command("uv", "tools", _P + "core.uv", "print the pinned uv's path"),
    Command("browser", "tools", _P + "browser", "the headless Chromium to use"),
    Command("lint-workflows", "github", _P + "gha.lint", "lint the workflows"),
    Command("workflow-policy", "github", _P + "gha.policy", "the workflows' house rules"),
    Command("require-jobs", "github", _P + "gha.needs", "the single required check"),
    Command("images-output", "github", _P + "gha.images", "images to $GITHUB_OUTPUT"),
    Command("job-budget", "github", _P + "gha.budget", "a job's time and disk"),
    Command("step-summary", "github", _P + "gha.summary", "a report to the job summary"),
    Command("images-report", "internal", _P + "build.images_report", "write an images file"),
    Command("normalize-image", "internal", _P + "build.normalize_image", "a canonical image"),
    Command("rootfs", "internal", _P + "build.rootfs", "derive the runtime rootfs"),
    Command("act-output", "internal", _P + "gha.act_output", "patch act's step output"),
    Command("sigstore-build", "internal", _P + "sigstore.build", "build the local Sigstore"),
    Command("oidc", "internal", _P + "sigstore.oidc", "the OIDC issuer stand-in"),
)

BY_NAME = {command.name: command for command in COMMANDS}
