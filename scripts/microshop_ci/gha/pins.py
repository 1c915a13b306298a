"""The pin rule for `uses:`: the project's own list of pinned actions, and on GitHub the API check
for SHAs it does not list. One rule: scripts/lint-workflows and the tests both apply it."""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from microshop_ci.core.errors import MicroshopError

SHA_RE = re.compile(r"^[0-9a-f]{40}$")
TAG_RE = re.compile(r"^v?\d[\w.+-]*$")
PINS_PATH = Path(".github") / "actions-pins.yaml"
USES_LINE_RE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)\s*(#.*)?$")
COMMENT_TAG_RE = re.compile(r"#\s*(v?\d[\w.+-]*)")


@dataclass(frozen=True)
class UsesLine:
    """One `uses:` line of a workflow or action: its number, value and the tag in its comment."""

    number: int
    uses: str
    comment: str
    tag: str

    @property
    def hosted(self) -> bool:
        """An action from another repository (not ./local, not docker://)."""
        return not self.uses.startswith(("./", "docker://"))


def uses_lines(text: str) -> list[UsesLine]:
    """Every `uses:` line of a workflow or action file, in order (the one parser of them)."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = USES_LINE_RE.match(line)
        if match:
            comment = match.group(2) or ""
            tag = COMMENT_TAG_RE.search(comment)
            found.append(UsesLine(number, match.group(1), comment, tag.group(1) if tag else ""))
    return found


class PinListError(MicroshopError, ValueError):
    """The pin list cannot be read (a configuration error: exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Pin:
    """One action at one commit, and the release tag that commit carries."""

    uses: str
    sha: str
    tag: str


def load_pin_list(path: Path) -> dict[str, Pin]:
    """Read `.github/actions-pins.yaml`: `uses@sha` -> Pin. Raises PinListError on bad input."""
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PinListError(f"{path}: cannot read the pin list: {exc}") from exc
    entries = doc.get("pins") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise PinListError(f"{path}: expected a non-empty `pins:` list")
    pins: dict[str, Pin] = {}
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise PinListError(f"{path}: pins[{i}] is not a mapping")
        uses, sha, tag = (str(entry.get(k, "")) for k in ("uses", "sha", "tag"))
        if "/" not in uses or not SHA_RE.match(sha) or not TAG_RE.match(tag):
            raise PinListError(
                f"{path}: pins[{i}] needs `uses: owner/repo`, a 40-hex `sha` and a `tag`"
            )
        pins[f"{uses}@{sha}"] = Pin(uses, sha, tag)
    return pins


class GitHubTags:
    """Resolves an action's release tag to its commit through the GitHub REST API."""

    def __init__(self, api_url: str, token: str, timeout: float = 20) -> None:
        if not api_url.startswith(("https://", "http://")):
            raise ValueError(f"GitHub API URL must be http(s): {api_url}")
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GitHubTags | None:
        """On GitHub Actions with a token (GITHUB_ACTIONS=true, GITHUB_TOKEN), else None."""
        env = os.environ if env is None else env
        token = env.get("GITHUB_TOKEN", "")
        if env.get("GITHUB_ACTIONS") != "true" or not token:
            return None
        return cls(env.get("GITHUB_API_URL", "https://api.github.com"), token)

    def _get(self, path: str) -> Any:
        request = urllib.request.Request(  # noqa: S310 (http(s) only, checked in __init__)
            f"{self.api_url}{path}",
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )
        # The API base is https on GitHub; tests point it at a loopback fake. Never a user's URL.
        opened = urllib.request.urlopen(  # noqa: S310  # nosec B310 -- the GitHub API base only
            request, timeout=self.timeout
        )
        with opened as response:
            return json.load(response)

    def commit_of(self, uses: str, tag: str) -> str:
        """The commit SHA the tag points to (annotated tags peeled); raises OSError on failure."""
        owner, repo = uses.split("/")[:2]
        quoted = urllib.parse.quote(tag, safe="")
        obj = self._get(f"/repos/{owner}/{repo}/git/ref/tags/{quoted}")["object"]
        for _ in range(5):  # a tag object may point to another tag object
            if obj["type"] == "commit":
                return str(obj["sha"])
            obj = self._get(f"/repos/{owner}/{repo}/git/tags/{obj['sha']}")["object"]
        raise OSError(f"{uses}@{tag}: tag chain too long")

    def verify(self, uses: str, sha: str, tag: str) -> str | None:
        """None when `tag` of `uses` is commit `sha`, else why not."""
        try:
            actual = self.commit_of(uses, tag)
        except (OSError, KeyError, TypeError, ValueError) as exc:
            detail = f"HTTP {exc.code}" if isinstance(exc, urllib.error.HTTPError) else str(exc)
            return f"cannot resolve {uses}@{tag} through the GitHub API ({detail})"
        if actual != sha:
            return f"{uses}@{tag} is commit {actual}, not {sha}"
        return None


@dataclass(frozen=True)
class PinRule:
    """Whether `owner/repo[/path]@sha # tag` may be used: the SHA is in the pin list (with that
    tag), or, on GitHub with a token, the GitHub API says the tag is that commit (a Dependabot
    bump the list does not carry yet). Offline, only the list counts."""

    pins: Mapping[str, Pin]
    github: GitHubTags | None = None

    @classmethod
    def for_repo(cls, pins_file: Path, env: Mapping[str, str] | None = None) -> PinRule:
        """The rule scripts/lint-workflows applies: this pin list, the API only on GitHub with a
        token (GitHubTags.from_env). Raises PinListError."""
        return cls(load_pin_list(pins_file), GitHubTags.from_env(env))

    def problem(self, uses: str, tag: str) -> tuple[str, str] | None:
        """None when allowed, else (rule id, what to do)."""
        name, _, ref = uses.partition("@")
        if not SHA_RE.match(ref):
            return "pinned-sha", f"{uses}: pin by a full 40-hex commit SHA"
        if uses in self.pins:
            pin = self.pins[uses]
            if tag and tag != pin.tag:
                return "tag-comment", f"{uses}: the comment says {tag}, the commit is {pin.tag}"
            return None
        if self.github is None:
            return (
                "known-pin",
                f"{uses}: not in {PINS_PATH}; never invent a SHA (on GitHub an unlisted SHA is"
                " checked against its tag comment)",
            )
        if not tag:
            return "known-pin", f"{uses}: not in {PINS_PATH} and no `# vX.Y.Z` tag to check"
        found = self.github.verify(name, ref, tag)
        return ("known-pin", f"{uses}: {found}") if found else None
