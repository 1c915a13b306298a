"""The stage table: every step is `python -m microshop_ci.<module>` of a module that exists; each
stage writes its typed result where the pipeline reads."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.pipeline.figures import result_path
from microshop_ci.pipeline.stages import STAGE_NAMES, Options, build_stages

OPTS = Options(repo=REPO_ROOT, report_dir=Path("/r"), advisory_source="offline")


def test_every_step_runs_a_module_of_this_interpreter() -> None:
    scripts, modules = [], []
    for stage in build_stages(OPTS):
        for step in stage.steps:
            if step.argv[:2] == (sys.executable, "-m"):
                modules.append(step.argv[2])
            else:
                scripts.append((stage.name, step.name, step.argv[0]))
    assert scripts == []
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    assert missing == []
    assert sorted(set(modules)) == [
        "microshop_ci.admission.check",
        "microshop_ci.admission.suites",
        "microshop_ci.admission.validate",
        "microshop_ci.build.base_image",
        "microshop_ci.build.images",
        "microshop_ci.checks",
        "microshop_ci.core.registry",
        "microshop_ci.gates.cli",
        "microshop_ci.gates.scan_images",
        "microshop_ci.sign",
        "microshop_ci.smoke",
    ]


def test_each_stage_is_asked_for_its_result_where_the_pipeline_reads_it() -> None:
    stages = build_stages(OPTS)
    assert tuple(s.name for s in stages) == STAGE_NAMES
    for stage in stages:
        last = stage.steps[-1].argv
        assert last[last.index("--result") + 1] == str(result_path(stage.name, Path("/r")))
