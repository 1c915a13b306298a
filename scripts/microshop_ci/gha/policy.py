"""The house rules for GitHub workflows and composite actions, checked without GitHub."""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from microshop_ci.core.findings import Finding, Severity
from microshop_ci.gha.pins import PINS_PATH, PinRule, uses_lines

SCRIPT_RE = re.compile(r'^(?:"\$\()?(scripts/[A-Za-z0-9_.-]+)')
FORBIDDEN_VERSIONS = ("0.69.4",)  # trivy v0.69.4 was a malicious release


GATE = "workflow-policy"


def finding(path: str, where: str, rule: str, message: str) -> Finding:
    """One broken rule: the file, where in it (the finding's target), the rule's id, what to do."""
    return Finding(GATE, rule, Severity.HIGH, target=where, message=message, path=path)


def describe(f: Finding) -> str:
    """`path: where: [rule] message`, one line per finding."""
    return f"{f.path}: {f.target}: [{f.rule_id}] {f.message}"


def _order(f: Finding) -> tuple[str, str, str, str]:
    return (f.path, f.target, f.rule_id, f.message)


def _triggers(doc: Mapping[Any, Any]) -> dict[str, Any]:
    # PyYAML reads the bare key `on` as the boolean True.
    raw = doc.get("on", doc.get(True))
    if isinstance(raw, str):
        return {raw: None}
    if isinstance(raw, list):
        return {str(t): None for t in raw}
    if isinstance(raw, dict):
        return {str(k): v for k, v in raw.items()}
    return {}


def _pushes_to_branches(push: Any) -> bool:
    """The workflow runs on pushes to branches (not only on tags, whose runs are one per tag)."""
    if push is False:
        return False
    if not isinstance(push, dict):
        return True  # `on: push` or `push:` with no filter: every branch
    return "branches" in push or "branches-ignore" in push or "tags" not in push


@dataclass
class Checker:
    """Checks files against the rules; `repo` is where scripts/ and local actions live.

    `pins` is the pin rule (microshop_ci.gha.pins.PinRule): the project's pin list and, on GitHub
    Actions with a token, the API check of an SHA the list lacks against the tag in its
    `# vX.Y.Z` comment, so Dependabot's bumps pass without a hand edit of the list while an
    invented SHA still fails.
    """

    repo: Path
    pins: PinRule
    _comment_tags: dict[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def for_repo(
        cls, repo: Path, pins_file: Path | None = None, env: Mapping[str, str] | None = None
    ) -> Checker:
        """The checker scripts/lint-workflows runs on a repository (and the tests on this one):
        its pin list, the GitHub API only on GitHub with a token. Raises PinListError."""
        return cls(repo, PinRule.for_repo(pins_file or repo / PINS_PATH, env))

    def check_file(self, path: Path) -> list[Finding]:
        """Every finding for one workflow (.github/workflows/*.yml) or action.yml."""
        rel = self._rel(path)
        try:
            doc = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            return [finding(rel, "file", "yaml", f"not valid YAML: {exc}")]
        if not isinstance(doc, dict):
            return [finding(rel, "file", "yaml", "expected a mapping at the top level")]
        self._comment_tags = {u.uses: u.tag for u in uses_lines(path.read_text()) if u.tag}
        findings = list(self._check_uses_comments(rel, path.read_text()))
        findings += self._check_versions(rel, path.read_text())
        if path.name in ("action.yml", "action.yaml"):
            steps = doc.get("runs", {}).get("steps", []) or []
            findings += self._check_steps(rel, "runs", steps)
        else:
            findings += self._check_workflow(rel, doc)
        return sorted(findings, key=_order)

    def _rel(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.repo.resolve()))
        except ValueError:
            return str(path)

    def _check_workflow(self, rel: str, doc: Mapping[Any, Any]) -> Iterator[Finding]:
        triggers = _triggers(doc)
        if "pull_request_target" in triggers:
            yield finding(
                rel,
                "on",
                "no-pull-request-target",
                "pull_request_target runs untrusted code with secrets: use pull_request",
            )
        if "permissions" not in doc or doc["permissions"] != {}:
            yield finding(
                rel,
                "permissions",
                "top-permissions-empty",
                "set `permissions: {}` at the top and grant per job",
            )
        if "pull_request" in triggers:
            conc = doc.get("concurrency")
            if not isinstance(conc, dict) or conc.get("cancel-in-progress") in (None, False):
                yield finding(
                    rel,
                    "concurrency",
                    "cancel-superseded",
                    "pull request runs need `concurrency` with `cancel-in-progress`",
                )
        if _pushes_to_branches(triggers.get("push", False)):
            conc = doc.get("concurrency")
            group = str(conc.get("group", "")) if isinstance(conc, dict) else str(conc or "")
            if group and not re.search(r"github\.(sha|run_id)\b", group):
                yield finding(
                    rel,
                    "concurrency",
                    "push-concurrency",
                    "give each pushed commit its own concurrency group (`github.sha`): GitHub "
                    "replaces a pending run of a group, so some pushes would never run",
                )
        jobs = doc.get("jobs") or {}
        if not isinstance(jobs, dict) or not jobs:
            yield finding(rel, "jobs", "jobs", "a workflow needs at least one job")
            return
        for name, job in jobs.items():
            yield from self._check_job(rel, str(name), job)
        if "pull_request" in triggers and len(jobs) > 1:
            yield from self._check_required_job(rel, jobs)

    def _check_job(self, rel: str, name: str, job: Any) -> Iterator[Finding]:
        where = f"jobs.{name}"
        if not isinstance(job, dict):
            yield finding(rel, where, "jobs", "a job must be a mapping")
            return
        if "permissions" not in job:
            yield finding(
                rel,
                where,
                "job-permissions",
                "grant this job's permissions explicitly (the least it needs)",
            )
        if "uses" in job:  # a reusable workflow call: no steps, no timeout of its own
            yield from self._check_uses(rel, where, str(job["uses"]))
            return
        if "timeout-minutes" not in job:
            yield finding(rel, where, "timeout", "set `timeout-minutes` on every job")
        for key in ("container",):
            image = job.get(key)
            image = image.get("image") if isinstance(image, dict) else image
            if image is not None:
                yield from self._check_image(rel, f"{where}.{key}", str(image))
        for svc, spec in (job.get("services") or {}).items():
            if isinstance(spec, dict):
                yield from self._check_image(rel, f"{where}.services.{svc}", str(spec.get("image")))
        yield from self._check_steps(rel, where, job.get("steps") or [])

    def _check_required_job(self, rel: str, jobs: Mapping[str, Any]) -> Iterator[Finding]:
        names = set(jobs)
        for name, job in jobs.items():
            needs = job.get("needs", []) if isinstance(job, dict) else []
            needs = {needs} if isinstance(needs, str) else set(needs)
            if needs == names - {name}:
                cond = str(job.get("if", ""))
                if "always()" not in cond:
                    yield finding(
                        rel,
                        f"jobs.{name}",
                        "required-job",
                        "the final job must run with `if: always()` to see failures",
                    )
                return
        yield finding(
            rel,
            "jobs",
            "required-job",
            "one final job must `needs` every other job (the single required check)",
        )

    def _check_steps(self, rel: str, where: str, steps: Sequence[Any]) -> Iterator[Finding]:
        for i, step in enumerate(steps):
            if not isinstance(step, dict):
                continue
            at = f"{where}.steps[{i}]" + (f" ({step['name']})" if "name" in step else "")
            if "uses" in step:
                uses = str(step["uses"])
                yield from self._check_uses(rel, at, uses)
                keeps_token = (step.get("with") or {}).get("persist-credentials") is not False
                if uses.startswith("actions/checkout@") and keeps_token:
                    yield finding(
                        rel,
                        at,
                        "persist-credentials",
                        "actions/checkout needs `persist-credentials: false`",
                    )
            if "run" in step:
                yield from self._check_run(rel, at, str(step["run"]))

    def _check_run(self, rel: str, at: str, run: str) -> Iterator[Finding]:
        if "${{" in run:
            yield finding(
                rel,
                at,
                "no-expression-in-run",
                "no `${{ }}` inside run: pass the value through `env:`",
            )
        lines = [line for line in run.strip().splitlines() if line.strip()]
        if len(lines) != 1:
            yield finding(
                rel, at, "one-line-run", "a run step is one line that calls a script from scripts/"
            )
            return
        match = SCRIPT_RE.match(lines[0].strip())
        if not match:
            yield finding(
                rel,
                at,
                "run-calls-script",
                f"`{lines[0].strip()}` does not call a script from scripts/",
            )
            return
        script = self.repo / match.group(1)
        if not script.is_file():
            yield finding(rel, at, "script-exists", f"{match.group(1)} does not exist in the repo")

    def _check_uses(self, rel: str, at: str, uses: str) -> Iterator[Finding]:
        if uses.startswith("./"):
            target = self.repo / uses
            if not (target.is_file() or (target / "action.yml").is_file()):
                yield finding(rel, at, "local-action", f"{uses} does not exist in the repo")
            return
        if uses.startswith("docker://"):
            yield from self._check_image(rel, at, uses.removeprefix("docker://"))
            return
        problem = self.pins.problem(uses, self._comment_tags.get(uses, ""))
        if problem:
            yield finding(rel, at, *problem)

    def _check_image(self, rel: str, at: str, image: str) -> Iterator[Finding]:
        if not re.search(r"@sha256:[0-9a-f]{64}$", image):
            yield finding(rel, at, "image-digest", f"{image}: pin the image by @sha256 digest")

    def _check_uses_comments(self, rel: str, text: str) -> Iterator[Finding]:
        for line in uses_lines(text):
            if line.hosted and not re.search(r"#\s*v?\d", line.comment):
                yield finding(
                    rel,
                    f"line {line.number}",
                    "tag-comment",
                    "keep the release tag as a trailing comment: `# vX.Y.Z`",
                )

    def _check_versions(self, rel: str, text: str) -> Iterator[Finding]:
        for number, line in enumerate(text.splitlines(), start=1):
            if re.search(r"version:\s*['\"]?latest['\"]?\s*$", line):
                yield finding(rel, f"line {number}", "no-latest", "pin tool versions, never latest")
            if any(v in line for v in FORBIDDEN_VERSIONS):
                yield finding(
                    rel,
                    f"line {number}",
                    "forbidden-version",
                    "trivy v0.69.4 was a malicious release",
                )


def default_files(repo: Path) -> list[Path]:
    """The workflows and composite actions of a repository (never tests/fixtures)."""
    gh = repo / ".github"
    return sorted([*gh.glob("workflows/*.y*ml"), *gh.glob("actions/*/action.y*ml")])


def check(repo: Path, pins: Path | None, paths: Sequence[Path]) -> int:
    """Check the files (default: the repo's workflows and actions); 1 on any finding."""
    checker = Checker.for_repo(repo, pins)
    if checker.pins.github is not None:
        print("workflow-policy: unlisted SHAs are checked against their tags on GitHub")
    files = list(paths) or default_files(repo)
    findings = [f for path in files for f in checker.check_file(path)]
    for found in findings:
        print(describe(found))
    print(f"workflow-policy: {len(files)} files, {len(findings)} findings")
    return 1 if findings else 0


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop workflow-policy [--repo DIR] [--pins FILE] [FILE...]`."""
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--repo", type=Path, default=Path.cwd())
    parser.add_argument("--pins", type=Path, default=None, help=f"default: <repo>/{PINS_PATH}")


def run_command(args: argparse.Namespace) -> int:
    """The house rules over the files; exit 1 on any finding."""
    return check(args.repo, args.pins, args.files)
