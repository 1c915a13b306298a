"""The known gates, in report order; another area adds a gate by registering it here."""

from __future__ import annotations

from microshop_ci.gates.bandit_gate import BanditGate
from microshop_ci.gates.context import Gate
from microshop_ci.gates.manifests_gate import ManifestsGate
from microshop_ci.gates.pip_audit_gate import PipAuditGate
from microshop_ci.gates.runtime_rules_gate import RuntimeRulesGate
from microshop_ci.gates.trivy_gates import TrivyConfigGate, TrivySecretGate, TrivyVulnGate
from microshop_ci.gates.workflow_gates import ActionlintGate, ZizmorGate

GATES: dict[str, Gate] = {}


def register(gate: Gate) -> None:
    """Add a gate; its name must also have a threshold in policies/gates/policy.yaml."""
    if gate.name in GATES:
        raise ValueError(f"gate {gate.name!r} is already registered")
    GATES[gate.name] = gate


for _gate in (
    BanditGate(),
    PipAuditGate(),
    TrivyConfigGate(),
    TrivySecretGate(),
    TrivyVulnGate(),
    ActionlintGate(),
    ZizmorGate(),
    ManifestsGate(),
    RuntimeRulesGate(),
):
    register(_gate)
