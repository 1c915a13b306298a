"""The SLSA v1 build provenance the keyless signing job attests (`cosign attest --type
slsaprovenance1`), from the workflow run's own GitHub variables.

The statement says which workflow, at which ref and commit, of which repository produced the
image. Its builder id is that workflow's identity URL (`https://github.com/OWNER/NAME/.github/
workflows/release.yml@REF`), the same identity the keyless certificate carries, so the admission
policy can require both to name this repository's release workflow on a version tag. The build
type is GitHub's workflow build type, whose field names the predicate follows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from microshop_ci.core.errors import MicroshopError

BUILD_TYPE = "https://actions.github.io/buildtypes/workflow/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"  # cosign's --type slsaprovenance1
REQUIRED = (
    "GITHUB_SERVER_URL",
    "GITHUB_REPOSITORY",
    "GITHUB_REF",
    "GITHUB_SHA",
    "GITHUB_WORKFLOW_REF",
    "GITHUB_EVENT_NAME",
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
)
_WORKFLOW_REF = re.compile(
    r"^(?P<repo>[^/]+/[^/]+)/(?P<path>\.github/workflows/[^@]+)@(?P<ref>.+)$"
)
_SHA = re.compile(r"^[0-9a-f]{40}$")


class ProvenanceError(MicroshopError, ValueError):
    """A variable the provenance needs is missing or malformed; the message names it."""


def _variables(env: Mapping[str, str]) -> dict[str, str]:
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        raise ProvenanceError(f"the provenance needs {', '.join(missing)} (set by the runner)")
    values = {name: env[name] for name in REQUIRED}
    if not _SHA.match(values["GITHUB_SHA"]):
        raise ProvenanceError(f"GITHUB_SHA is not a commit id: {values['GITHUB_SHA']!r}")
    match = _WORKFLOW_REF.match(values["GITHUB_WORKFLOW_REF"])
    if not match or match["repo"] != values["GITHUB_REPOSITORY"]:
        raise ProvenanceError(
            f"GITHUB_WORKFLOW_REF {values['GITHUB_WORKFLOW_REF']!r} is not a workflow of "
            f"{values['GITHUB_REPOSITORY']}"
        )
    if match["ref"] != values["GITHUB_REF"]:
        ref = values["GITHUB_REF"]
        raise ProvenanceError(f"GITHUB_WORKFLOW_REF names ref {match['ref']!r}, GITHUB_REF {ref!r}")
    values["path"] = match["path"]
    return values


def predicate(env: Mapping[str, str]) -> dict[str, Any]:
    """The SLSA v1 predicate of this run; ProvenanceError naming a missing variable."""
    v = _variables(env)
    server = v["GITHUB_SERVER_URL"].rstrip("/")
    repository = f"{server}/{v['GITHUB_REPOSITORY']}"
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "workflow": {"ref": v["GITHUB_REF"], "repository": repository, "path": v["path"]}
            },
            "internalParameters": {
                "github": {
                    "event_name": v["GITHUB_EVENT_NAME"],
                    "runner_environment": env.get("RUNNER_ENVIRONMENT", ""),
                }
            },
            "resolvedDependencies": [
                {
                    "uri": f"git+{repository}@{v['GITHUB_REF']}",
                    "digest": {"gitCommit": v["GITHUB_SHA"]},
                }
            ],
        },
        "runDetails": {
            "builder": {"id": f"{server}/{v['GITHUB_WORKFLOW_REF']}"},
            "metadata": {
                "invocationId": (
                    f"{repository}/actions/runs/{v['GITHUB_RUN_ID']}/attempts/{v['GITHUB_RUN_ATTEMPT']}"
                )
            },
        },
    }


def write(path: Path, env: Mapping[str, str]) -> Path:
    """Write the predicate to path (JSON) and return path."""
    path.write_text(json.dumps(predicate(env), indent=2) + "\n")
    return path


def check(attested: dict[str, Any], env: Mapping[str, str]) -> list[str]:
    """What an attested provenance gets wrong about this run (empty when it is this run's own):
    the builder must be this workflow at this ref, the source this repository at this commit."""
    expected = predicate(env)
    found_builder = attested.get("runDetails", {}).get("builder", {}).get("id")
    definition = attested.get("buildDefinition", {})
    found_source = definition.get("externalParameters", {}).get("workflow", {}).get("repository")
    found_commits = [
        d.get("digest", {}).get("gitCommit") for d in definition.get("resolvedDependencies", [])
    ]
    wanted_builder = expected["runDetails"]["builder"]["id"]
    wanted_source = expected["buildDefinition"]["externalParameters"]["workflow"]["repository"]
    problems = []
    if found_builder != wanted_builder:
        problems.append(f"builder id is {found_builder!r}, expected {wanted_builder!r}")
    if found_source != wanted_source:
        problems.append(f"source repository is {found_source!r}, expected {wanted_source!r}")
    if found_commits != [env["GITHUB_SHA"]]:
        problems.append(f"source commit is {found_commits!r}, expected [{env['GITHUB_SHA']!r}]")
    return problems
