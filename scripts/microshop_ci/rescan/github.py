"""The re-scan's GitHub calls (release assets in, one issue per image version out), and the
local stand-in that writes each issue to a file instead.

GitHub's REST API through httpx: GITHUB_API_URL (MICROSHOP_GITHUB_API_URL first, so that a test
can point the workflow at a loopback stand-in of the same endpoints), GITHUB_REPOSITORY and the
job's GITHUB_TOKEN (contents: read for the releases, issues: write for the issues).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from microshop_ci.core.errors import MicroshopError
from microshop_ci.rescan.records import IMAGES_FILE, SBOM_SUFFIX, RecordError

ISSUE_LABEL = "rescan"
TIMEOUT = 30.0


class GitHubError(MicroshopError, RuntimeError):
    """A GitHub API call failed; the message names the call and the answer."""


class Issues(Protocol):
    """Where the re-scan opens or updates the one issue of an image version."""

    def upsert(self, title: str, body: str) -> str:
        """Open the issue titled so, or update its body; say which (for the log)."""
        ...


@dataclass(frozen=True)
class GitHub:
    """One repository's releases and issues."""

    api: str
    repo: str
    token: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> GitHub:
        """From the job's environment; GitHubError names what is missing."""
        api = env.get("MICROSHOP_GITHUB_API_URL") or env.get("GITHUB_API_URL", "")
        given = {"GITHUB_API_URL": api, "GITHUB_REPOSITORY": env.get("GITHUB_REPOSITORY", ""),
                 "GITHUB_TOKEN": env.get("GITHUB_TOKEN", "")}  # fmt: skip
        for name, value in given.items():
            if not value:
                raise GitHubError(f"{name} is not set (the re-scan of GitHub releases needs it)")
        return cls(api.rstrip("/"), env["GITHUB_REPOSITORY"], env["GITHUB_TOKEN"])

    def _call(self, method: str, path: str, accept: str = "application/vnd.github+json",
              body: Mapping[str, Any] | None = None) -> httpx.Response:  # fmt: skip
        headers = {"Authorization": f"Bearer {self.token}", "Accept": accept,
                   "X-GitHub-Api-Version": "2022-11-28"}  # fmt: skip
        try:
            response = httpx.request(method, f"{self.api}{path}", headers=headers, json=body,
                                     timeout=TIMEOUT, follow_redirects=True)  # fmt: skip
        except httpx.HTTPError as exc:
            raise GitHubError(f"{method} {path}: {exc}") from None
        if response.status_code >= 400:
            raise GitHubError(f"{method} {path}: HTTP {response.status_code} {response.text[:200]}")
        return response

    def release_tags(self) -> list[str]:
        """Tags of the published releases (no drafts, no pre-releases)."""
        releases = self._call("GET", f"/repos/{self.repo}/releases?per_page=100").json()
        return [r["tag_name"] for r in releases if not r.get("draft") and not r.get("prerelease")]

    def download_record(self, tag: str, root: Path) -> Path:
        """The release's images file and SBOMs into root/tag (a local release record)."""
        release = self._call("GET", f"/repos/{self.repo}/releases/tags/{tag}").json()
        folder = root / tag
        folder.mkdir(parents=True, exist_ok=True)
        for asset in release.get("assets") or []:
            name = str(asset["name"])
            if name != IMAGES_FILE and not name.endswith(SBOM_SUFFIX):
                continue
            if "/" in name or name.startswith("."):
                raise RecordError(f"release {tag}: refusing the asset name {name!r}")
            path = f"/repos/{self.repo}/releases/assets/{asset['id']}"
            (folder / name).write_bytes(self._call("GET", path, "application/octet-stream").content)
        return folder

    def upsert(self, title: str, body: str) -> str:
        """Update the open issue with this title (label `rescan`), else open it."""
        listed = self._call(
            "GET", f"/repos/{self.repo}/issues?state=open&labels={ISSUE_LABEL}&per_page=100"
        ).json()
        for issue in listed:
            if issue.get("title") == title and "pull_request" not in issue:
                number = issue["number"]
                self._call("PATCH", f"/repos/{self.repo}/issues/{number}", body={"body": body})
                return f"updated issue #{number}: {title}"
        issue = {"title": title, "body": body, "labels": [ISSUE_LABEL]}
        created = self._call("POST", f"/repos/{self.repo}/issues", body=issue)
        return f"opened issue #{created.json()['number']}: {title}"


@dataclass(frozen=True)
class IssueFiles:
    """The local stand-in: each issue is a Markdown file in folder, rewritten on update."""

    folder: Path

    def upsert(self, title: str, body: str) -> str:
        """Write folder/<title as a file name>.md; say whether it was new."""
        path = self.folder / f"{re.sub(r'[^A-Za-z0-9.-]+', '-', title).strip('-')}.md"
        existed = path.is_file()
        self.folder.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {title}\n\n{body}")
        return f"{'updated' if existed else 'opened'} {path}: {title}"
