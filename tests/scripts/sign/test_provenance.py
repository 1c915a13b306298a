"""The SLSA provenance the keyless signing job attests: made from the run's variables only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from microshop_ci.sign import provenance

RUN = {
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "Acme/shop",
    "GITHUB_REF": "refs/tags/v1.2.3",
    "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
    "GITHUB_WORKFLOW_REF": "Acme/shop/.github/workflows/release.yml@refs/tags/v1.2.3",
    "GITHUB_EVENT_NAME": "push",
    "GITHUB_RUN_ID": "42",
    "GITHUB_RUN_ATTEMPT": "2",
    "RUNNER_ENVIRONMENT": "github-hosted",
}


def test_the_predicate_names_the_workflow_the_commit_and_the_run(tmp_path: Path) -> None:
    written = provenance.write(tmp_path / "provenance.json", RUN)
    assert json.loads(written.read_text()) == {
        "buildDefinition": {
            "buildType": "https://actions.github.io/buildtypes/workflow/v1",
            "externalParameters": {
                "workflow": {
                    "ref": "refs/tags/v1.2.3",
                    "repository": "https://github.com/Acme/shop",
                    "path": ".github/workflows/release.yml",
                }
            },
            "internalParameters": {
                "github": {"event_name": "push", "runner_environment": "github-hosted"}
            },
            "resolvedDependencies": [
                {
                    "uri": "git+https://github.com/Acme/shop@refs/tags/v1.2.3",
                    "digest": {"gitCommit": "0123456789abcdef0123456789abcdef01234567"},
                }
            ],
        },
        "runDetails": {
            "builder": {
                "id": "https://github.com/Acme/shop/.github/workflows/release.yml@refs/tags/v1.2.3"
            },
            "metadata": {"invocationId": "https://github.com/Acme/shop/actions/runs/42/attempts/2"},
        },
    }


def test_missing_variables_are_all_named() -> None:
    env = {k: v for k, v in RUN.items() if k not in ("GITHUB_SHA", "GITHUB_RUN_ID")}
    with pytest.raises(provenance.ProvenanceError, match=r"needs GITHUB_SHA, GITHUB_RUN_ID \("):
        provenance.predicate(env)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"GITHUB_SHA": "main"}, "GITHUB_SHA is not a commit id: 'main'"),
        (
            {"GITHUB_WORKFLOW_REF": "Other/repo/.github/workflows/release.yml@refs/tags/v1.2.3"},
            "is not a workflow of Acme/shop",
        ),
        (
            {"GITHUB_WORKFLOW_REF": "Acme/shop/.github/workflows/release.yml@refs/heads/main"},
            "names ref 'refs/heads/main', GITHUB_REF 'refs/tags/v1.2.3'",
        ),
    ],
)
def test_inconsistent_variables_are_refused(change: dict[str, str], message: str) -> None:
    with pytest.raises(provenance.ProvenanceError, match=message.replace("(", r"\(")):
        provenance.predicate({**RUN, **change})
