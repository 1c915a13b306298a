"""The stage table: every step is a `microshop` subcommand that exists; each stage writes its
typed result where the pipeline reads."""

from __future__ import annotations

import sys
from pathlib import Path

from microshop_ci.commands import BY_NAME
from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.pipeline.figures import result_path
from microshop_ci.pipeline.stages import STAGE_NAMES, Options, build_stages

OPTS = Options(repo=REPO_ROOT, report_dir=Path("/r"), advisory_source="offline")


def test_every_step_runs_a_subcommand_of_this_interpreter() -> None:
    scripts, commands = [], []
    for stage in build_stages(OPTS):
        for step in stage.steps:
            if step.argv[:3] == (sys.executable, "-m", "microshop_ci"):
                commands.append(step.argv[3])
            else:
                scripts.append((stage.name, step.name, step.argv[0]))
    assert scripts == []
    assert [c for c in commands if c not in BY_NAME] == []
    assert sorted(set(commands)) == [
        "admission-check",
        "base-image",
        "build-images",
        "gates",
        "kyverno-test",
        "registry",
        "scan-images",
        "sign",
        "smoke",
        "test",
        "validate-manifests",
    ]


def test_each_stage_is_asked_for_its_result_where_the_pipeline_reads_it() -> None:
    stages = build_stages(OPTS)
    assert tuple(s.name for s in stages) == STAGE_NAMES
    for stage in stages:
        last = stage.steps[-1].argv
        assert last[last.index("--result") + 1] == str(result_path(stage.name, Path("/r")))
