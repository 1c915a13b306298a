"""The project's pin list, and how the check agrees with Dependabot's SHA bumps on GitHub."""

from __future__ import annotations

import re
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from microshop_ci.core.jsonhttp import JsonHandler
from microshop_ci.gha.pins import GitHubTags, Pin, PinListError, PinRule, load_pin_list
from microshop_ci.gha.policy import Checker
from tests.conftest import REPO_ROOT, loopback_http_server
from tests.workflows.conftest import FIXTURES, PINS_FILE, checkout_copy, tree_findings
from tests.workflows.test_act import MAPPED, STAND_INS, local_repositories

CHECKOUT = "actions/checkout"
LISTED = "3d3c42e5aac5ba805825da76410c181273ba90b1"  # v7.0.1 in the pin list
BUMPED = "1" * 40  # a newer release Dependabot moved to: not in the list
TAG_OBJECT = "2" * 40
# what the fake API answers: (owner/repo, tag) -> the ref's object
REFS = {
    (CHECKOUT, "v7.1.0"): {"type": "commit", "sha": BUMPED},
    ("actions/upload-artifact", "v7.1.0"): {"type": "commit", "sha": BUMPED},
    (CHECKOUT, "v7.2.0"): {"type": "tag", "sha": TAG_OBJECT},  # annotated: peeled below
}
TAGS = {TAG_OBJECT: {"type": "commit", "sha": "3" * 40}}


class FakeGitHub(JsonHandler, BaseHTTPRequestHandler):
    """The two REST endpoints the check reads; 401 without the bearer token."""

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "Bearer t0ken":
            self._send(401, {"message": "Bad credentials"})
            return
        parts = self.path.strip("/").split("/")
        if parts[:1] == ["repos"] and parts[3:6] == ["git", "ref", "tags"]:
            found = REFS.get((f"{parts[1]}/{parts[2]}", parts[6]))
            self._send(200, {"object": found}) if found else self._send(404, {})
        elif parts[:1] == ["repos"] and parts[3:5] == ["git", "tags"] and parts[5] in TAGS:
            self._send(200, {"object": TAGS[parts[5]]})
        else:
            self._send(404, {"message": "Not Found"})


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    with loopback_http_server(FakeGitHub) as url:
        yield url


def workflow(tmp_path: Path, uses: str) -> Path:
    text = (FIXTURES / "good.yml").read_text()
    lines = [line for line in text.splitlines() if "actions/checkout@" in line]
    assert len(lines) == 1, "good.yml has one checkout step"
    path = tmp_path / "wf.yml"
    path.write_text(text.replace(lines[0], f"      - uses: {uses}"))
    return path


def rules(checker: Checker, path: Path) -> list[tuple[str, str]]:
    return [(f.rule_id, f.message) for f in checker.check_file(path)]


def test_the_pin_list_has_every_action_the_workflows_use_with_its_tag(
    pins: dict[str, Pin],
) -> None:
    assert pins[f"{CHECKOUT}@{LISTED}"] == Pin(CHECKOUT, LISTED, "v7.0.1")
    assert len(pins) == 29


def test_offline_an_unlisted_sha_is_refused(pins: dict[str, Pin], tmp_path: Path) -> None:
    path = workflow(tmp_path, f"{CHECKOUT}@{BUMPED} # v7.1.0")
    assert [r for r, _ in rules(Checker(REPO_ROOT, PinRule(pins)), path)] == ["known-pin"]


def test_a_listed_sha_whose_comment_names_another_tag_is_refused(
    pins: dict[str, Pin], tmp_path: Path
) -> None:
    path = workflow(tmp_path, f"{CHECKOUT}@{LISTED} # v7.1.0")
    assert rules(Checker(REPO_ROOT, PinRule(pins)), path) == [
        ("tag-comment", f"{CHECKOUT}@{LISTED}: the comment says v7.1.0, the commit is v7.0.1")
    ]


def test_on_github_a_dependabot_bump_passes_when_its_tag_is_that_commit(
    pins: dict[str, Pin], tmp_path: Path, api_url: str
) -> None:
    checker = Checker(REPO_ROOT, PinRule(pins, GitHubTags(api_url, "t0ken")))
    assert rules(checker, workflow(tmp_path, f"{CHECKOUT}@{BUMPED} # v7.1.0")) == []


def test_on_github_a_sha_that_is_not_its_tag_is_refused(
    pins: dict[str, Pin], tmp_path: Path, api_url: str
) -> None:
    checker = Checker(REPO_ROOT, PinRule(pins, GitHubTags(api_url, "t0ken")))
    # an annotated tag is peeled to its commit, which is not the pinned SHA
    assert rules(checker, workflow(tmp_path, f"{CHECKOUT}@{BUMPED} # v7.2.0")) == [
        ("known-pin", f"{CHECKOUT}@{BUMPED}: {CHECKOUT}@v7.2.0 is commit {'3' * 40}, not {BUMPED}")
    ]
    assert rules(checker, workflow(tmp_path, f"{CHECKOUT}@{BUMPED} # v9.9.9")) == [
        (
            "known-pin",
            f"{CHECKOUT}@{BUMPED}: cannot resolve {CHECKOUT}@v9.9.9 through the GitHub API"
            " (HTTP 404)",
        )
    ]


def test_on_github_a_bad_token_is_a_finding_not_a_pass(
    pins: dict[str, Pin], tmp_path: Path, api_url: str
) -> None:
    checker = Checker(REPO_ROOT, PinRule(pins, GitHubTags(api_url, "wrong")))
    assert [r for r, _ in rules(checker, workflow(tmp_path, f"{CHECKOUT}@{BUMPED} # v7.1.0"))] == [
        "known-pin"
    ]


@pytest.mark.parametrize(
    ("env", "online"),
    [
        ({"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": "x"}, True),
        ({"GITHUB_ACTIONS": "true"}, False),  # no token: the carried list only
        ({"GITHUB_TOKEN": "x"}, False),  # not on GitHub
        ({}, False),
    ],
)
def test_the_api_is_asked_only_on_github_with_a_token(env: dict[str, str], online: bool) -> None:
    assert (GitHubTags.from_env(env) is not None) is online


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pins: []\n", "expected a non-empty `pins:` list"),
        ("pins:\n  - uses: a/b\n    sha: abc\n    tag: v1\n", "pins[0] needs `uses: owner/repo`"),
        ("pins: [unclosed\n", "cannot read the pin list"),
    ],
)
def test_a_broken_pin_list_is_refused_with_its_reason(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "pins.yaml"
    path.write_text(text)
    with pytest.raises(PinListError, match=re.escape(message)):
        load_pin_list(path)


def test_the_pin_list_lives_in_the_repository() -> None:
    assert PINS_FILE == REPO_ROOT / ".github" / "actions-pins.yaml"
    assert PINS_FILE.is_file()


# --- one pin rule for the repository's own tests, the act runs and scripts/lint-workflows

UPLOAD = "actions/upload-artifact"
UPLOAD_LISTED = "bbbca2ddaa5d8feaa63e36b76fdaad77386f024f"  # v7.0.0 in the pin list


def dependabot_bump(tmp_path: Path) -> Path:
    """A copy of .github and scripts where Dependabot moved checkout and upload-artifact in pr.yml
    to SHAs the pin list does not carry (their tags in the comments, as Dependabot writes them)."""
    clone = checkout_copy(tmp_path)
    pr = clone / ".github" / "workflows" / "pr.yml"
    text = pr.read_text()
    assert text.count(f"{CHECKOUT}@{LISTED} # v7.0.1") == 8
    assert text.count(f"{UPLOAD}@{UPLOAD_LISTED} # v7.0.0") == 3
    text = text.replace(f"{CHECKOUT}@{LISTED} # v7.0.1", f"{CHECKOUT}@{BUMPED} # v7.1.0")
    pr.write_text(text.replace(f"{UPLOAD}@{UPLOAD_LISTED} # v7.0.0", f"{UPLOAD}@{BUMPED} # v7.1.0"))
    return clone


def test_a_dependabot_bump_passes_the_repository_checks_on_github_and_only_there(
    tmp_path: Path, api_url: str
) -> None:
    clone = dependabot_bump(tmp_path)
    online = {"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": "t0ken", "GITHUB_API_URL": api_url}
    assert tree_findings(clone, online) == []
    offline = tree_findings(clone, {})
    assert len(offline) == 11
    assert {line.split(": [")[1].split("]")[0] for line in offline} == {"known-pin"}
    assert sum(f"[known-pin] {UPLOAD}@{BUMPED}: not in" in line for line in offline) == 3


def test_the_act_runs_map_the_shas_the_workflows_use_whatever_the_pin_list_says(
    tmp_path: Path,
) -> None:
    args = local_repositories(dependabot_bump(tmp_path))
    entries = args[1::2]
    assert args[::2] == ["--local-repository"] * len(entries)
    assert f"{UPLOAD}@{BUMPED}={STAND_INS / 'upload-artifact'}" in entries
    assert f"{UPLOAD}@{UPLOAD_LISTED}={STAND_INS / 'upload-artifact'}" in entries  # release.yml


def test_every_stand_in_is_mapped_from_the_repositorys_own_workflows() -> None:
    entries = local_repositories(REPO_ROOT)[1::2]
    folders = sorted(entry.split("=", 1)[1] for entry in entries)
    assert folders == sorted(str(STAND_INS / f) for f in set(MAPPED.values()))
    assert len(entries) == len(set(MAPPED.values()))  # one SHA per action repository
