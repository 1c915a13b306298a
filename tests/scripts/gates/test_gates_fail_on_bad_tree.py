"""Each gate fails on the fixture tree, naming the finding in summary.md and summary.json."""

from __future__ import annotations

import pytest

from tests.scripts.gates.conftest import GatesRun

APP = "services/bad-service/src/bad_service/app.py"


def blocking(run: GatesRun, gate: str) -> set[tuple[str, str]]:
    return {(f["rule_id"], f["location"]) for f in run.gate(gate)["blocking"]}


def test_run_exits_1_and_says_it_failed(bad_run: GatesRun) -> None:
    assert bad_run.code == 1, bad_run.stderr
    assert bad_run.summary["passed"] is False
    assert bad_run.markdown.startswith("## Security gates: FAILED")


def test_bandit_fails_on_shell_true_and_yaml_load(bad_run: GatesRun) -> None:
    gate = bad_run.gate("bandit")
    assert gate["verdict"] == "failed"
    assert {("B602", f"{APP}:11"), ("B506", f"{APP}:16")} <= blocking(bad_run, "bandit")
    assert f"B602 in {APP}:11" in bad_run.markdown
    assert f"B506 in {APP}:16" in bad_run.markdown


def test_bandit_reports_import_subprocess_below_threshold(bad_run: GatesRun) -> None:
    below = {(f["rule_id"], f["severity"]) for f in bad_run.gate("bandit")["below_threshold"]}
    assert below == {("B404", "low")}


def test_bare_nosec_fails_the_bandit_gate(bad_run: GatesRun) -> None:
    assert ("MS-NOSEC", f"{APP}:21") in blocking(bad_run, "bandit")
    assert f"MS-NOSEC in {APP}:21" in bad_run.markdown


def test_pip_audit_finds_requests_2_19_0_through_the_offline_osv_service(bad_run: GatesRun) -> None:
    gate = bad_run.gate("pip-audit")
    assert gate["verdict"] == "failed"
    found = {(f["rule_id"], f["target"], f["fixed_version"]) for f in gate["blocking"]}
    assert found == {
        ("PYSEC-2018-28", "requests", "2.20.0"),
        ("PYSEC-2023-74", "requests", "2.31.0"),
    }
    assert "PYSEC-2018-28 in requests (services/bad-service/requirements.txt:2)" in bad_run.markdown


def test_trivy_config_fails_on_a_dockerfile_running_as_root(bad_run: GatesRun) -> None:
    gate = bad_run.gate("trivy-config")
    assert gate["verdict"] == "failed"
    rules = {(f["rule_id"], f["severity"], f["target"]) for f in gate["blocking"]}
    assert ("DS-0002", "high", "services/bad-service/Dockerfile") in rules
    assert "DS-0002 in services/bad-service/Dockerfile" in bad_run.markdown


def test_trivy_config_checks_the_rendered_overlay_not_the_partial_base(bad_run: GatesRun) -> None:
    overlay = "k8s/overlays/bad/kustomization.yaml"
    rules = {(f["rule_id"], f["location"]) for f in bad_run.gate("trivy-config")["blocking"]}
    assert ("KSV-0017", overlay) in rules  # privileged: true in k8s/base, rendered by kustomize
    assert not [loc for _, loc in rules if loc.startswith("k8s/base/")]
    assert f"KSV-0017 in {overlay}: Privileged" in bad_run.markdown


def test_trivy_secret_fails_on_a_private_key(bad_run: GatesRun) -> None:
    gate = bad_run.gate("trivy-secret")
    assert gate["verdict"] == "failed"
    found = {(f["rule_id"], f["target"]) for f in gate["blocking"]}
    assert found == {("private-key", "services/bad-service/deploy-key.pem")}
    assert "private-key in services/bad-service/deploy-key.pem" in bad_run.markdown
    assert "BEGIN RSA PRIVATE KEY" not in bad_run.markdown


def test_policy_exclude_hides_tests_fixtures_from_every_gate(bad_run: GatesRun) -> None:
    for gate in bad_run.summary["gates"]:
        for bucket in ("blocking", "below_threshold", "excepted"):
            assert not [f for f in gate[bucket] if f["location"].startswith("tests/fixtures")]


@pytest.mark.parametrize(
    ("gate", "rule", "line"),
    [
        ("zizmor", "unpinned-uses", 8),
        ("zizmor", "dangerous-triggers", 2),
        ("zizmor", "template-injection", 11),
        ("actionlint", "expression", 11),
    ],
)
def test_workflow_gates_fail_on_unpinned_action_and_pull_request_target(
    bad_run: GatesRun, gate: str, rule: str, line: int
) -> None:
    assert bad_run.gate(gate)["verdict"] == "failed"
    assert (rule, f".github/workflows/bad.yml:{line}") in blocking(bad_run, gate)
    assert f"{rule} in .github/workflows/bad.yml:{line}" in bad_run.markdown


def test_trivy_vuln_is_reported_as_not_run_in_words(bad_run: GatesRun) -> None:
    gate = bad_run.gate("trivy-vuln")
    assert gate["verdict"] == "not-run"
    assert gate["fails_run"] is False  # required: false in policy.yaml, and visible
    assert bad_run.summary["trivy_vulnerability_scan_ran"] is False
    assert "> ⚠️ Trivy's vulnerability scan did not run: its database" in bad_run.markdown
    assert "| trivy-vuln | 0 | 0 | 0 | 0 | 0 | 0 | 0 | ⚠️ not run |" in bad_run.markdown


def test_manifests_gate_without_validator_is_skipped_visibly(bad_run: GatesRun) -> None:
    gate = bad_run.gate("manifests")
    assert gate["verdict"] == "skipped"
    assert "- **manifests**: skipped: no scripts/validate-manifests yet" in bad_run.markdown


def test_runtime_rules_fails_on_an_unknown_macro(bad_run: GatesRun) -> None:
    gate = bad_run.gate("runtime-rules")
    assert gate["verdict"] == "failed"
    found = [(f["rule_id"], f["location"], f["message"]) for f in gate["blocking"]]
    assert found == [
        (
            "MS-RUNTIME-RULE",
            "policies/runtime/bad-rules.yaml",
            "rule 'Shell in container': unknown macro 'spawned_process'",
        )
    ]


def test_every_gate_that_ran_writes_valid_sarif(bad_run: GatesRun) -> None:
    for gate in bad_run.summary["gates"]:
        if gate["verdict"] in ("skipped", "not-run"):
            # No SARIF for a gate that did not run: an empty upload would close real alerts.
            assert not (bad_run.report_dir / f"{gate['gate']}.sarif").exists(), gate["gate"]
            continue
        sarif = bad_run.sarif(gate["gate"])
        assert sarif["version"] == "2.1.0"
        assert sarif["$schema"].endswith("sarif-2.1.0.json")
        (run,) = sarif["runs"]
        driver = run["tool"]["driver"]
        assert driver["name"] in {gate["tool"], f"{gate['tool']} ({gate['gate']})"}
        rule_ids = [rule["id"] for rule in driver["rules"]]
        assert len(rule_ids) == len(set(rule_ids))
        for result in run["results"]:
            assert rule_ids[result["ruleIndex"]] == result["ruleId"]
            assert result["level"] in {"error", "warning", "note"}
            assert result["message"]["text"]
            assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert len(run["results"]) == sum(gate["counts"].values())


def test_sarif_runs_are_distinct_analyses_for_code_scanning(bad_run: GatesRun) -> None:
    ran = [
        g["gate"] for g in bad_run.summary["gates"] if g["verdict"] not in ("skipped", "not-run")
    ]
    runs = [bad_run.sarif(gate)["runs"][0] for gate in ran]
    names = [run["tool"]["driver"]["name"] for run in runs]
    assert len(set(names)) == len(names) == len(ran)
    assert "trivy (trivy-config)" in names
    # the workflow's `category:` names the analysis: no run fixes its own automationDetails
    assert [run for run in runs if "automationDetails" in run] == []
    skipped = {g["gate"] for g in bad_run.summary["gates"]} - set(ran)
    assert sorted(p.stem for p in bad_run.report_dir.glob("*.sarif")) == sorted(ran)
    assert all(not (bad_run.report_dir / f"{gate}.sarif").exists() for gate in skipped)
