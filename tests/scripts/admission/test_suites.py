"""Every Kyverno policy has a CLI suite that passes and proves it both ways; the proof can fail."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from microshop_ci.admission import suites
from microshop_ci.k8s.common import POLICIES_DIR, REPO_ROOT
from microshop_ci.k8s.policies import load_sources, policy_files

EXPECTED_POLICIES = {
    "mesh": {"require-authorizationpolicy-coverage", "require-strict-peerauthentication"},
    "pod-security": {
        "disallow-host-namespaces", "disallow-host-path", "disallow-host-ports",
        "disallow-host-probes", "disallow-host-process", "disallow-privilege-escalation",
        "disallow-privileged-containers", "require-default-proc-mount", "require-drop-all",
        "require-pod-security-standards", "require-requests-limits", "require-ro-rootfs",
        "require-run-as-nonroot", "require-seccomp-runtimedefault", "restrict-apparmor-profiles",
        "restrict-selinux-options", "restrict-sysctls", "restrict-volume-types",
    },
    "supply-chain": {
        "require-image-digest", "restrict-image-registries", "verify-image-signatures",
    },
}  # fmt: skip
VERBS = ("require-", "disallow-", "restrict-", "verify-")


def _copy_policy(tmp_path: Path, category: str, name: str) -> Path:
    target = tmp_path / "policies" / category / name
    shutil.copytree(POLICIES_DIR / category / name, target)
    return target


def _edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_every_policy_suite_passes_and_expects_a_fail_and_a_pass() -> None:
    reports, general = suites.check_all()
    assert general == []
    assert {r.policy: r.problems for r in reports if r.problems} == {}
    assert {r.policy for r in reports} == set().union(*EXPECTED_POLICIES.values())
    for report in reports:
        assert report.expected["fail"] >= 1, report.policy
        assert report.expected["pass"] >= 1, report.policy


def test_policy_folders_files_and_names_agree() -> None:
    found: dict[str, set[str]] = {p.parent.parent.name: set() for p in policy_files()}
    for path in policy_files():
        found[path.parent.parent.name].add(path.stem)
        assert yaml.safe_load(path.read_text())["metadata"]["name"] == path.stem
    assert found == EXPECTED_POLICIES


@pytest.mark.parametrize("policy", load_sources(), ids=lambda p: p["metadata"]["name"])
def test_policy_is_enforced_annotated_and_its_rules_are_verb_noun(policy: dict[str, Any]) -> None:
    annotations = policy["metadata"]["annotations"]
    for key in ("title", "category", "severity", "description"):
        assert annotations.get(f"policies.kyverno.io/{key}"), key
    assert policy["kind"] == "ClusterPolicy"
    for rule in policy["spec"]["rules"]:
        assert rule["name"].startswith(VERBS), rule["name"]
        if "validate" in rule:
            assert rule["validate"]["failureAction"] == "Enforce"
            assert len(rule["validate"]["message"]) > 40
        for verify in rule.get("verifyImages", []):
            assert verify["failureAction"] == "Enforce"
            assert verify["mutateDigest"] is True
            assert verify["verifyDigest"] is True
            assert verify["required"] is True


def test_a_suite_without_a_failing_resource_is_reported(tmp_path: Path) -> None:
    folder = _copy_policy(tmp_path, "pod-security", "disallow-host-ports")
    suite = folder / suites.SUITE

    def drop_fails(data: dict[str, Any]) -> None:
        data["results"] = [r for r in data["results"] if r["result"] != "fail"]

    _edit(suite, drop_fails)
    reports, _ = suites.check_all(tmp_path / "policies")
    assert [p for p in reports[0].problems if "expected to fail" in p] == [
        f"{suite}: no resource is expected to fail"
    ]


def test_a_wrong_expectation_fails_the_suite(tmp_path: Path) -> None:
    folder = _copy_policy(tmp_path, "pod-security", "disallow-host-ports")
    suite = folder / suites.SUITE

    def flip(data: dict[str, Any]) -> None:
        for result in data["results"]:
            if result["result"] == "fail" and result["kind"] == "Pod":
                result["result"] = "pass"

    _edit(suite, flip)
    reports, general = suites.check_all(tmp_path / "policies")
    assert any("bad-host-port" in p and "Fail" in p for p in reports[0].problems)
    assert general != []


def test_an_invalid_policy_is_not_counted_as_passing(tmp_path: Path) -> None:
    folder = _copy_policy(tmp_path, "supply-chain", "restrict-image-registries")
    policy = folder / "restrict-image-registries.yaml"

    def break_message(data: dict[str, Any]) -> None:
        data["spec"]["rules"][0]["validate"]["message"] = "bad image {{ element.image }}"

    _edit(policy, break_message)
    reports, _ = suites.check_all(tmp_path / "policies")
    assert any("Invalid Policy" in p for p in reports[0].problems)


def test_a_policy_without_a_suite_is_reported(tmp_path: Path) -> None:
    folder = _copy_policy(tmp_path, "pod-security", "disallow-host-path")
    shutil.rmtree(folder / ".kyverno-test")
    reports, _ = suites.check_all(tmp_path / "policies")
    assert reports[0].problems == [
        f"{folder / 'disallow-host-path.yaml'}: no Kyverno CLI suite at {folder / suites.SUITE}"
    ]


def test_the_cli_passes_on_the_tree_and_fails_naming_the_broken_suite(tmp_path: Path) -> None:
    script = str(REPO_ROOT / "scripts" / "kyverno-test")
    clean = subprocess.run([script], capture_output=True, text=True, check=False)
    assert clean.returncode == 0, clean.stdout
    assert clean.stdout.splitlines()[-1].startswith("kyverno-test: 23 policies proven, 0 not")
    folder = _copy_policy(tmp_path, "pod-security", "disallow-host-path")
    (folder / suites.SUITE).unlink()
    broken = subprocess.run(
        [script, str(tmp_path / "policies")], capture_output=True, text=True, check=False
    )
    assert broken.returncode == 1
    assert "FAIL disallow-host-path" in broken.stdout


PLATFORM_NAMESPACES = [
    "kube-system", "kube-public", "kube-node-lease", "kyverno", "istio-system", "ingress-nginx",
    "local-path-storage",
]  # fmt: skip


@pytest.mark.parametrize("policy", load_sources(), ids=lambda p: p["metadata"]["name"])
def test_pod_rules_exclude_exactly_the_platform_namespaces(policy: dict[str, Any]) -> None:
    """Pods of the platform (ingress controller, Kyverno, istiod) are not MicroShop's images;
    every other namespace is held to the bar. Mesh policies exclude nothing."""
    for rule in policy["spec"]["rules"]:
        kinds = rule["match"]["any"][0]["resources"]["kinds"]
        excluded = [e["resources"]["namespaces"] for e in rule.get("exclude", {}).get("any", [])]
        assert excluded == ([PLATFORM_NAMESPACES] if kinds == ["Pod"] else []), rule["name"]
