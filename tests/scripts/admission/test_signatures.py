"""verify-image-signatures against a real registry with real cosign signatures.

The suite is rendered at test time into a temporary folder (the image references and the key
exist only now) and run by the same checker as the committed suites.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from microshop_ci.admission import suites
from microshop_ci.k8s import policies
from tests.conftest import tool_path
from tests.scripts.admission.conftest import Registry

POLICY = "verify-image-signatures"
RULE = "verify-microshop-image-signatures"


def _pod(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "microshop"},
        "spec": {"containers": [{"name": "app", "image": image}]},
    }


def _suite(
    tmp_path: Path, key: Path, registry: Registry, cases: dict[str, tuple[str, str]],
    extra: tuple[str, ...] = (),
) -> Path:  # fmt: skip
    """A policies folder with the rendered policy (and extra ones) and a suite for the cases."""
    rendered = {
        p["metadata"]["name"]: p
        for p in policies.render("local", public_key=key.read_text(), registries=(registry.host,))
    }
    results = []
    resources = []
    for name, (image, expected) in cases.items():
        resources.append(_pod(name, image))
        results.append(
            {"policy": POLICY, "rule": RULE, "kind": "Pod", "resources": [name], "result": expected}
        )
    wanted = [POLICY, *extra]
    for extra_policy in extra:
        for name, (image, _) in cases.items():
            outcome = "pass" if "@sha256:" in image else "fail"
            results.append(
                {"policy": extra_policy, "rule": extra_policy, "kind": "Pod",
                 "resources": [name], "result": outcome}
            )  # fmt: skip
    folder = tmp_path / "policies" / "supply-chain" / POLICY
    (folder / ".kyverno-test").mkdir(parents=True)
    (folder / f"{POLICY}.yaml").write_text(policies.dump([rendered[n] for n in wanted]))
    (folder / ".kyverno-test" / "resources.yaml").write_text(yaml.safe_dump_all(resources))
    test = {
        "apiVersion": "cli.kyverno.io/v1alpha1", "kind": "Test", "metadata": {"name": POLICY},
        "policies": [f"../{POLICY}.yaml"], "resources": ["resources.yaml"], "results": results,
    }  # fmt: skip
    (folder / suites.SUITE).write_text(yaml.safe_dump(test, sort_keys=False))
    return tmp_path / "policies"


def test_signed_passes_unsigned_and_other_key_fail(tmp_path: Path, registry: Registry) -> None:
    cases = {
        "good-signed-api": (registry.signed["api-service"], "pass"),
        "good-signed-client": (registry.signed["client-service"], "pass"),
        "bad-unsigned": (registry.unsigned, "fail"),
        "bad-signed-with-another-key": (registry.other_key_signed, "fail"),
    }
    reports, general = suites.check_all(_suite(tmp_path, registry.cosign_pub, registry, cases))
    assert general == []
    assert reports[0].problems == []
    assert reports[0].expected == {"pass": 2, "fail": 2}


def _apply(policy: dict[str, Any], pod: dict[str, Any], tmp_path: Path) -> tuple[int, str]:
    """kyverno apply of one policy to one pod: exit code and output."""
    (tmp_path / "policy.yaml").write_text(policies.dump([policy]))
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(pod))
    result = subprocess.run(
        [tool_path("kyverno"), "apply", str(tmp_path / "policy.yaml"), "--resource",
         str(tmp_path / "pod.yaml"), "--remove-color"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def test_an_image_by_tag_is_refused_as_submitted(tmp_path: Path, registry: Registry) -> None:
    """The shop's manifests are checked as submitted (render, admission-check): a tag, even of a
    signed image, is refused by require-image-digest; an unsigned tag by the signature rule."""
    rendered = {
        p["metadata"]["name"]: p
        for p in policies.render("local", public_key=registry.cosign_pub.read_text(),
                                 registries=(registry.host,))
    }  # fmt: skip
    code, output = _apply(rendered["require-image-digest"], _pod("tag", registry.tagged), tmp_path)
    assert code == 1
    assert "Images must be referenced by digest" in output
    unsigned_tag = registry.unsigned.split("@")[0] + ":v1"
    code, output = _apply(rendered[POLICY], _pod("unsigned-tag", unsigned_tag), tmp_path)
    assert code == 1
    assert "no signatures found" in output


def test_the_suite_fails_when_the_policy_trusts_another_key(
    tmp_path: Path, registry: Registry
) -> None:
    """The same expectations against a policy holding the wrong key: the proof itself fails."""
    cases = {"good-signed-api": (registry.signed["api-service"], "pass")}
    reports, general = suites.check_all(_suite(tmp_path, registry.other_pub, registry, cases))
    assert any("good-signed-api" in p and "Fail" in p for p in reports[0].problems)
    assert general != []


@pytest.mark.parametrize("bad", ["", "not a key"])
def test_rendering_the_key_profile_needs_a_public_key(bad: str) -> None:
    with pytest.raises(Exception, match="cosign public key"):
        policies.render("local", public_key=bad)
