"""scripts/admission-check: every overlay obeys every policy with real signed images; the rules
refuse an unsigned control image, a non-compliant workload and an uncovered mesh workload."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from microshop_ci.admission import check as admission
from microshop_ci.cli import main as microshop
from microshop_ci.k8s import overlay, policies
from microshop_ci.k8s.common import REPO_ROOT
from microshop_ci.k8s.images import parse_ref
from tests.conftest import free_port
from tests.scripts.admission.conftest import Registry


@pytest.fixture(scope="module")
def images_file(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("admission") / "images.json"
    path.write_text(json.dumps({s: {"ref": ref} for s, ref in registry.signed.items()}))
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO_ROOT / "scripts" / "admission-check"), *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_every_overlay_is_admitted_and_the_unsigned_control_refused(
    registry: Registry, images_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "report.json"
    result = _run("--images", str(images_file), "--cosign-pub", str(registry.cosign_pub),
                  "--control-image", registry.unsigned, "--json", str(out))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == (
        "admission-check: every overlay admitted, unsigned refused"
    )
    report = json.loads(out.read_text())
    assert [o["target"] for o in report["overlays"]] == ["kind", "production"]
    assert all(o["problems"] == [] for o in report["overlays"])
    refused = {
        (r["policy"], r["result"]) for r in report["control"]["results"] if r["result"] == "fail"
    }
    assert refused == {("verify-image-signatures", "fail")}


def test_images_signed_with_another_key_are_not_admitted(
    registry: Registry, images_file: Path
) -> None:
    result = _run("--images", str(images_file), "--cosign-pub", str(registry.other_pub),
                  "--control-image", registry.unsigned)  # fmt: skip
    assert result.returncode == 1
    assert "FAIL kind: verify-image-signatures/autogen-verify-microshop-image-signatures fail" in (
        result.stdout
    )
    assert result.stdout.splitlines()[-1] == "admission-check: FAILED"


def test_a_non_compliant_workload_is_refused(registry: Registry, tmp_path: Path) -> None:
    images = {s: parse_ref(ref) for s, ref in registry.signed.items()}
    docs = overlay.documents(overlay.build("kind", images))
    api = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "api-service"
    )
    api["spec"]["template"]["spec"]["hostNetwork"] = True
    rendered = policies.render("local", public_key=registry.cosign_pub.read_text(),
                               registries=(registry.host,))  # fmt: skip
    policy_file = tmp_path / "policies.yaml"
    policy_file.write_text(policies.dump(rendered))
    outcome = admission.kyverno_apply(policy_file, docs, tmp_path, "kind")
    assert sorted(p.split(" on ")[0] for p in outcome.problems) == [
        "disallow-host-namespaces/autogen-disallow-host-namespaces fail",
        "require-pod-security-standards/autogen-require-restricted-profile fail",
    ]


def test_a_mesh_workload_without_authorizationpolicy_is_refused(
    registry: Registry, tmp_path: Path
) -> None:
    images = {s: parse_ref(ref) for s, ref in registry.signed.items()}
    docs = [
        d
        for d in overlay.documents(overlay.build("production", images))
        if not (
            d["kind"] == "AuthorizationPolicy" and d["metadata"]["name"].startswith("allow-api")
        )
    ]
    rendered = policies.render("local", public_key=registry.cosign_pub.read_text(),
                               registries=(registry.host,))  # fmt: skip
    policy_file = tmp_path / "policies.yaml"
    policy_file.write_text(policies.dump(rendered))
    outcome = admission.kyverno_apply(policy_file, docs, tmp_path, "production")
    assert [p.split(" on ")[:2] for p in outcome.problems] == [
        ["require-authorizationpolicy-coverage/require-authorizationpolicy-coverage fail",
         "StatefulSet/microshop/mongodb: This workload is in a mesh namespace but no ALLOW "
         "AuthorizationPolicy with rules selects app.kubernetes.io/name=mongodb. Apply an "
         "AuthorizationPolicy that allows its callers by principal before the workload."]
    ]  # fmt: skip


def test_a_mesh_namespace_without_any_authorizationpolicy_is_reported() -> None:
    docs = [
        {"kind": "Namespace",
         "metadata": {"name": "shop", "labels": {"istio-injection": "enabled"}}},
        {"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}},
        {"kind": "Namespace", "metadata": {"name": "plain"}},
        {"kind": "Deployment", "metadata": {"name": "web", "namespace": "plain"}},
    ]  # fmt: skip
    assert admission.uncovered_mesh_namespaces(docs) == ["shop"]


def test_a_missing_images_file_is_a_usage_error(tmp_path: Path) -> None:
    result = _run("--images", str(tmp_path / "nope.json"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {tmp_path / 'nope.json'}: cannot read the images file (No such file or directory)"
    )


def test_production_obeys_the_release_policies_apart_from_online_signature_checks(
    tmp_path: Path,
) -> None:
    """The keyless signature rule needs GitHub's Fulcio and Rekor (release runs only); every other
    rule of the release rendering is checked here, offline, on the committed production overlay."""
    rendered = policies.render("release", "microshop/microshop")
    for policy in rendered:
        policy["spec"]["rules"] = [r for r in policy["spec"]["rules"] if "verifyImages" not in r]
    policy_file = tmp_path / "policies.yaml"
    policy_file.write_text(policies.dump(rendered))
    docs = overlay.documents(overlay.build("production"))
    outcome = admission.kyverno_apply(policy_file, docs, tmp_path, "production")
    assert outcome.problems == []
    assert {r["result"] for r in outcome.results} == {"pass"}
    # 23 Pod rules (21 pod-security incl. podSecurity, 2 supply-chain) x 4 controllers,
    # third-party images x 2 (mongodb, the Job), coverage x 3 (the two Deployments and the
    # StatefulSet), 2 PeerAuthentication rules.
    assert len(outcome.results) == 23 * 4 + 2 + 3 + 2


def test_the_unsigned_control_is_pushed_by_digest_to_the_registry(registry: Registry) -> None:
    first = admission.push_unsigned_control(registry.host)
    second = admission.push_unsigned_control(registry.host)
    assert first.ref.startswith(f"{registry.host}/admission-control@sha256:")
    assert first.ref != second.ref  # random content: a fresh, never-signed image each time


def test_a_registry_that_refuses_the_control_push_is_a_tool_error() -> None:
    with pytest.raises(admission.ToolError, match=r"^crane could not push the control image: "):
        admission.push_unsigned_control(f"127.0.0.1:{free_port()}")


def test_kyverno_output_without_a_report_is_a_tool_error_with_its_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kyverno = tmp_path / "kyverno"
    kyverno.write_text("#!/bin/sh\necho 'loading policies'\necho 'panic: nil map' >&2\nexit 3\n")
    kyverno.chmod(0o755)
    monkeypatch.setenv("MICROSHOP_TOOL_KYVERNO", str(kyverno))
    admission.pinned_tool.cache_clear()
    try:
        with pytest.raises(admission.ToolError) as caught:
            admission.kyverno_apply(tmp_path / "policies.yaml", [], tmp_path, "kind")
    finally:
        admission.pinned_tool.cache_clear()
    assert str(caught.value) == "kyverno apply on kind gave no report (exit 3): panic: nil map"


def test_an_unreadable_cosign_key_is_a_usage_error(
    images_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "cosign.pub"
    code = microshop(
        ["admission-check", "--images", str(images_file), "--cosign-pub", str(missing)]
    )
    assert code == 2
    assert capsys.readouterr().err == (f"error: {missing}: cannot read the cosign public key\n")
