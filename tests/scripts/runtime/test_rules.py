"""A rule file outside the subset is refused in one line naming the file, the rule, the problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from microshop_ci.runtime.cli import RULES
from microshop_ci.runtime.rules import Priority, RuleFileError, load
from tests.conftest import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "runtime"
REFUSED = {
    "invalid-yaml.yaml": "not valid YAML at line 3: expected ',' or ']', but got ':'",
    "syntax-error.yaml": (
        "rule 'Shell in container': condition: syntax error: unexpected end of condition"
    ),
    "unknown-macro.yaml": "rule 'Shell in container': unknown macro 'spawned_process'",
    "unknown-list.yaml": "rule 'Shell in container': unknown list 'shel_binaries'",
    "unsupported-field.yaml": (
        "rule 'Shell with a terminal': field 'proc.tty' is outside the supported subset"
    ),
    "unsupported-operator.yaml": (
        "rule 'Write below etc': operator 'glob' (on fd.name) is outside the supported subset"
    ),
    "unsupported-output-field.yaml": (
        "rule 'Shell in container': output field 'proc.cmdline' is outside the supported subset"
    ),
    "unsupported-key.yaml": (
        "rule 'Shell in container': key 'exceptions' is outside the supported subset"
    ),
}


@pytest.mark.parametrize(("name", "problem"), sorted(REFUSED.items()))
def test_a_bad_rule_file_is_refused_naming_file_rule_and_problem(name: str, problem: str) -> None:
    with pytest.raises(RuleFileError) as err:
        load(FIXTURES / name, f"fixtures/{name}")
    assert str(err.value) == f"fixtures/{name}: {problem}"


def test_every_fixture_is_one_of_the_refused_cases() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.yaml")) == sorted(REFUSED)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- list: a_list\n  items: [x]\n  append: true\n", "list 'a_list': a list has exactly"),
        ("- macro: m\n  condition: proc.name = \n", "macro 'm': condition: syntax error"),
        ("- rule: R\n  desc: d\n  condition: proc.name = sh\n  output: o\n  priority: LOUD\n",
         "rule 'R': unknown priority 'LOUD'"),
        ("- rule: R\n  desc: d\n  condition: user.uid = root\n  output: o\n  priority: INFO\n",
         "rule 'R': value 'root' of user.uid is not a number"),
        ("- rule: R\n  desc: d\n  condition: proc.name in sh\n  output: o\n  priority: INFO\n",
         "rule 'R': operator 'in' on proc.name needs a parenthesised list"),
        ("- rule: R\n  condition: proc.name = sh\n  output: o\n  priority: INFO\n",
         "rule 'R': missing 'desc'"),
        ("- rule: R\n  desc: d\n  condition: evt.type = x\n  output: o\n  priority: INFO\n"
         "  source: k8s_audit\n", "rule 'R': source 'k8s_audit' is outside the supported subset"),
        ("rule: R\n", "a rule file is a YAML list of lists, macros and rules"),
        ("- [1]\n", "item 1: each item must be a mapping (list, macro, rule)"),
    ],
)  # fmt: skip
def test_each_other_problem_is_one_line(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    with pytest.raises(RuleFileError) as err:
        load(path, "rules.yaml")
    assert str(err.value).startswith(f"rules.yaml: {problem}")
    assert "\n" not in str(err.value)


def test_a_rule_defined_twice_is_refused(tmp_path: Path) -> None:
    rule = "- rule: R\n  desc: d\n  condition: proc.name = sh\n  output: o\n  priority: INFO\n"
    (tmp_path / "r.yaml").write_text(rule * 2)
    with pytest.raises(RuleFileError, match=r"^r.yaml: rule 'R': defined twice$"):
        load(tmp_path / "r.yaml", "r.yaml")


def test_a_disabled_rule_is_checked_but_not_loaded(tmp_path: Path) -> None:
    rule = "- rule: R\n  desc: d\n  condition: proc.name = sh\n  output: o\n  priority: INFO\n"
    (tmp_path / "r.yaml").write_text(rule + "  enabled: false\n")
    assert load(tmp_path / "r.yaml").rules == ()
    (tmp_path / "r.yaml").write_text(rule.replace("proc.name", "proc.tty") + "  enabled: false\n")
    with pytest.raises(RuleFileError, match=r"'proc\.tty' is outside the supported subset"):
        load(tmp_path / "r.yaml")


def test_the_committed_rules_load_with_their_priorities() -> None:
    rules = {r.name: r.priority for r in load(RULES).rules}
    assert rules == {
        "Shell or interpreter in MicroShop container": Priority.CRITICAL,
        "Unexpected process in MicroShop container": Priority.WARNING,
        "Unexpected Network in Container": Priority.WARNING,
        "Write below protected directory in MicroShop container": Priority.ERROR,
        "Read of service account token or secret in MicroShop container": Priority.CRITICAL,
        "Setuid or setgid in MicroShop container": Priority.CRITICAL,
        "Ptrace in MicroShop container": Priority.CRITICAL,
        "Package manager or download tool in MicroShop container": Priority.ERROR,
    }


def test_every_rule_output_names_pod_namespace_container_digest_process_and_parent() -> None:
    wanted = ("%k8s.pod.name", "%k8s.ns.name", "%container.id", "%container.image.digest",
              "%proc.name", "%proc.exepath", "%proc.pname")  # fmt: skip
    for rule in load(RULES).rules:
        assert [w for w in wanted if w not in rule.output] == [], rule.name


def test_the_check_command_exits_2_with_one_line_on_stderr() -> None:
    bad = FIXTURES / "unknown-macro.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "microshop_ci", "runtime-rules", "check", str(RULES), str(bad)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == (
        "policies/runtime/microshop-rules.yaml: 8 rules, all within the supported subset\n"
    )
    assert result.stderr == (
        "error: tests/fixtures/runtime/unknown-macro.yaml: rule 'Shell in container': "
        "unknown macro 'spawned_process'\n"
    )
