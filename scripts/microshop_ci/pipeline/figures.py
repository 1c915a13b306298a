"""Key figures per stage: the typed result each stage wrote through core.result."""

from __future__ import annotations

from pathlib import Path
from typing import cast

from microshop_ci.core.result import RESULT_FILE, RESULT_TYPES, StageOutcome, read_result


def result_path(stage: str, report_dir: Path) -> Path:
    """Where the pipeline asks a stage to write its result (stages.Options.result)."""
    return report_dir / stage / RESULT_FILE


def collect(stage: str, report_dir: Path) -> StageOutcome | None:
    """The stage's typed result; None when it wrote none (it failed first).

    A result file that is not what its stage's dataclass says raises core.result.ResultFileError.
    """
    cls = RESULT_TYPES.get(stage)
    path = result_path(stage, report_dir)
    if cls is None or not path.exists():
        return None
    return cast(StageOutcome, read_result(path, cls))
