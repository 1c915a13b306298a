"""The manifests gate: the Kubernetes validator (admission.validate), called directly."""

from __future__ import annotations

from microshop_ci.admission import validate
from microshop_ci.core.errors import UsageError
from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.tools import ToolError
from microshop_ci.gates.context import Context
from microshop_ci.gates.model import GateRun, RunStatus

VALIDATOR = "scripts/validate-manifests"


class ManifestsGate:
    """Validates every overlay and the policies of this repository; skips visibly otherwise."""

    name = "manifests"
    tool = "validate-manifests"

    def run(self, ctx: Context) -> GateRun:
        """No finding: pass. Each validator finding is a gate finding; a tool failure, an error."""
        if not (ctx.root / "k8s").is_dir():
            return GateRun(RunStatus.SKIPPED, self.tool, "skipped: no k8s/")
        if not (ctx.root / VALIDATOR).is_file():
            return GateRun(RunStatus.SKIPPED, self.tool, f"skipped: no {VALIDATOR} yet")
        if ctx.root.resolve() != REPO_ROOT:
            # The validator reads the manifests of the repository its code is in (k8s.common).
            note = f"error: the validator checks {REPO_ROOT}, not --root {ctx.root}"
            return GateRun(RunStatus.ERROR, self.tool, note)
        try:
            findings = validate.validate()
        except (ToolError, UsageError, OSError) as err:
            return GateRun(RunStatus.ERROR, self.tool, f"{VALIDATOR}: a check could not run: {err}")
        out = GateRun(RunStatus.RAN, self.tool)
        for finding in findings:
            out.add(finding)
        return out
