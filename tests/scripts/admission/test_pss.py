"""Every Pod Security Standards control is enforced by a named policy and by the podSecurity rule,
each case breaks its control alone, and the committed suites are the generated ones."""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from microshop_ci.admission import check as admission
from microshop_ci.admission import validate
from microshop_ci.cli import main as microshop
from microshop_ci.k8s import overlay, pss_suites
from microshop_ci.k8s.common import POLICIES_DIR, REPO_ROOT
from microshop_ci.k8s.policies import policy_files
from microshop_ci.k8s.pss_controls import CATEGORY, PSS_POLICY, PSS_RULE, SUITES

# The controls of the Pod Security Standards as Kubernetes v1.36 defines them
# (k8s.io/pod-security-admission v0.36: one check per control, restricted includes baseline).
PSS_V1_36 = {
    "baseline: HostProcess", "baseline: Host Namespaces", "baseline: Privileged Containers",
    "baseline: Capabilities", "baseline: HostPath Volumes", "baseline: Host Ports",
    "baseline: Host Probes / Lifecycle Hooks", "baseline: AppArmor", "baseline: SELinux",
    "baseline: /proc Mount Type", "baseline: Seccomp", "baseline: Sysctls",
    "restricted: Volume Types", "restricted: Privilege Escalation",
    "restricted: Running as Non-root", "restricted: Running as Non-root user",
    "restricted: Seccomp", "restricted: Capabilities", "restricted: /proc Mount Type",
}  # fmt: skip


def test_every_control_of_the_standard_has_a_named_policy() -> None:
    covered = {control for suite in SUITES for control in suite.controls}
    assert covered == PSS_V1_36


def test_every_rule_of_a_named_policy_has_a_failing_case() -> None:
    for suite in SUITES:
        failing = {rule for case in suite.cases for rule in case.fails}
        assert failing == set(suite.rules), suite.policy


def test_case_names_are_unique_across_the_policy_set() -> None:
    names = [c.name for s in pss_suites.all_suites() for c in pss_suites.suite_cases(s)]
    per_suite = [pss_suites.suite_cases(s) for s in pss_suites.all_suites()]
    assert len(set(names)) == len(pss_suites.suite_cases(pss_suites.pss_suite()))
    assert all(len({c.name for c in cases}) == len(cases) for cases in per_suite)


def test_the_committed_suites_are_the_generated_ones() -> None:
    assert pss_suites.stale_files() == []


def test_a_hand_edited_suite_is_reported_stale(tmp_path: Path) -> None:
    root = tmp_path / "kyverno"
    shutil.copytree(POLICIES_DIR, root)
    suite = root / CATEGORY / "disallow-privileged-containers" / ".kyverno-test" / "resources.yaml"
    suite.write_text(suite.read_text().replace("privileged: true", "privileged: false"))
    assert pss_suites.stale_files(root) == [suite]


def test_the_docs_table_is_the_generated_one() -> None:
    assert pss_suites.table() in (REPO_ROOT / "docs" / "kubernetes.md").read_text()


def test_the_privileged_deployment_is_refused_by_name() -> None:
    """The issue's attack: compliant in every other way, privileged: true."""
    suite = POLICIES_DIR / CATEGORY / "disallow-privileged-containers" / ".kyverno-test"
    docs = list(yaml.safe_load_all((suite / "resources.yaml").read_text()))
    deployment = next(d for d in docs if d["metadata"]["name"] == "bad-privileged-deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "runAsNonRoot": True,
        "runAsUser": 65532, "capabilities": {"drop": ["ALL"]}, "privileged": True,
    }  # fmt: skip
    results = yaml.safe_load((suite / "kyverno-test.yaml").read_text())["results"]
    assert {
        "policy": "disallow-privileged-containers",
        "rule": "autogen-disallow-privileged-containers",
        "kind": "Deployment",
        "resources": ["bad-privileged-deployment"],
        "result": "fail",
    } in results


@pytest.fixture(scope="module")
def whole_set_failures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Every case as every kind through ALL the pod-security policies at once (kyverno apply):
    resource name -> the policy/rule pairs it fails."""
    work = tmp_path_factory.mktemp("pss")
    sources = [p for p in policy_files() if p.parent.parent.name == CATEGORY]
    policy_file = work / "pod-security.yaml"
    policy_file.write_text("\n---\n".join(p.read_text() for p in sources))
    docs = [
        pss_suites.as_kind(pss_suites.case_pod(case), kind, pss_suites.resource_name(case, kind))
        for case in pss_suites.suite_cases(pss_suites.pss_suite())
        for kind in pss_suites.KINDS
    ]
    outcome = admission.kyverno_apply(policy_file, docs, work, "pss")
    failures: dict[str, set[str]] = defaultdict(set)
    for item in outcome.results:
        assert item["result"] in ("pass", "fail"), item
        for resource in item["resources"]:
            failures[resource["name"]]  # every resource was evaluated
            if item["result"] == "fail":
                failures[resource["name"]].add(f"{item['policy']}/{item['rule']}")
    return failures


def test_each_case_breaks_its_own_rules_and_nothing_else(
    whole_set_failures: dict[str, set[str]],
) -> None:
    expected: dict[str, set[str]] = {}
    for suite in SUITES:
        for case in pss_suites.suite_cases(suite):
            for kind in pss_suites.KINDS:
                rules = {*(f"{suite.policy}/{r}" for r in case.fails), *case.also}
                if case.pss and kind not in case.pss_misses:
                    rules.add(f"{PSS_POLICY}/{PSS_RULE}")
                expected[pss_suites.resource_name(case, kind)] = {
                    "/".join((p, pss_suites.rule_for(r, kind))) for p, r in
                    (rule.split("/") for rule in rules)
                }  # fmt: skip
    assert dict(whole_set_failures) == expected


def test_the_istio_sidecar_pod_is_admitted_by_every_pod_security_policy(
    whole_set_failures: dict[str, set[str]],
) -> None:
    for kind in pss_suites.KINDS:
        assert whole_set_failures[pss_suites.resource_name(pss_suites.COMPLIANT[1], kind)] == set()
    pod = pss_suites.case_pod(pss_suites.COMPLIANT[1])
    proxy = pod["spec"]["initContainers"][1]
    assert (proxy["name"], proxy["restartPolicy"]) == ("istio-proxy", "Always")
    assert proxy["securityContext"]["runAsUser"] == 1337
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["istio-validation", "istio-proxy"]


WORKLOADS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def _pod_of(doc: dict[str, Any]) -> dict[str, Any]:
    """A workload's pod as the API server would create it (no sidecar yet)."""
    template = doc["spec"]["template"] if doc["kind"] != "CronJob" else (
        doc["spec"]["jobTemplate"]["spec"]["template"]
    )  # fmt: skip
    meta = {**template.get("metadata", {}), "name": doc["metadata"]["name"],
            "namespace": doc["metadata"].get("namespace", "default")}  # fmt: skip
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]}


@pytest.mark.parametrize("name", ["kind", "production"])
def test_the_real_workloads_pass_every_pod_security_policy_with_and_without_the_sidecar(
    name: str, tmp_path: Path
) -> None:
    docs = [d for d in overlay.documents(overlay.build(name)) if d["kind"] in WORKLOADS]
    injected = [pss_suites.with_istio_sidecar(_pod_of(d)) for d in docs if d["kind"] != "Pod"]
    sources = [p for p in policy_files() if p.parent.parent.name == CATEGORY]
    policy_file = tmp_path / "pod-security.yaml"
    policy_file.write_text("\n---\n".join(p.read_text() for p in sources))
    outcome = admission.kyverno_apply(policy_file, docs + injected, tmp_path, name)
    assert outcome.problems == []
    checked = {
        (r["kind"], r["name"], item["policy"])
        for item in outcome.results
        if item["result"] == "pass"
        for r in item["resources"]
    }
    names = {p.stem for p in sources}
    expected = {(d["kind"], d["metadata"]["name"], p) for d in docs + injected for p in names}
    assert checked == expected


def test_the_resources_the_e2e_test_sends_are_valid_kubernetes_objects(tmp_path: Path) -> None:
    """kubeconform (strict): what tests/e2e/cluster/test_pod_security.py sends is schema-valid."""
    names = {c.name: c for s in SUITES for c in pss_suites.suite_cases(s)}
    docs = [
        pss_suites.as_kind(pss_suites.case_pod(case, live=True), kind, f"{name}-{kind.lower()}")
        for name, case in names.items()
        for kind in pss_suites.KINDS
    ]
    path = tmp_path / "live.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    assert len(docs) == 5 * len(names)
    assert validate.kubeconform(path, "live") == []


def test_writing_the_suites_into_an_empty_tree_leaves_nothing_stale(tmp_path: Path) -> None:
    written = pss_suites.write(tmp_path)
    expected = [
        pss_suites.suite_dir(suite, tmp_path) / name
        for suite in pss_suites.all_suites()
        for name in pss_suites.rendered(suite)
    ]
    assert written == expected
    assert pss_suites.stale_files(tmp_path) == []
    missing = written[0]
    missing.unlink()
    assert pss_suites.stale_files(tmp_path) == [missing]


def test_the_command_line_checks_writes_and_prints_the_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert microshop(["pss-suites", "table"]) == 0
    assert capsys.readouterr().out == pss_suites.table() + "\n"
    assert microshop(["pss-suites", "check"]) == 0
    assert capsys.readouterr().out == ""
    stale = tmp_path / "stale.yaml"
    monkeypatch.setattr(pss_suites, "stale_files", lambda: [stale])
    assert microshop(["pss-suites", "check"]) == 1
    assert capsys.readouterr().out == (
        f"pss_suites: stale {stale} (run: microshop pss-suites write)\n"
    )
    monkeypatch.setattr(pss_suites, "write", lambda: [stale, stale])
    assert microshop(["pss-suites", "write"]) == 0
    assert capsys.readouterr().out == "pss_suites: wrote 2 files\n"
