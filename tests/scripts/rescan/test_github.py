"""The re-scan's GitHub calls against a loopback stand-in of the REST endpoints it uses."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from microshop_ci.rescan.github import GitHub, GitHubError, IssueFiles
from microshop_ci.rescan.records import RecordError
from tests.conftest import loopback_http_server

REPO = "microshop/microshop"
TITLE = "Re-scan: api-service v1.2.3 has new vulnerability findings"


class _Api(BaseHTTPRequestHandler):
    issues: ClassVar[list[dict[str, Any]]] = []
    calls: ClassVar[list[tuple[str, str, Any]]] = []
    assets: ClassVar[list[str]] = ["images.json", "api-service.sbom.cdx.json", "notes.txt"]

    def _send(self, status: int, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.calls.append(("GET", self.path, self.headers["Authorization"]))
        if self.path.startswith(f"/repos/{REPO}/issues?"):
            self._send(200, self.issues)
        elif self.path == f"/repos/{REPO}/releases/tags/v1.2.3":
            self._send(200, {"assets": [{"id": i, "name": n} for i, n in enumerate(self.assets)]})
        elif self.path.startswith(f"/repos/{REPO}/releases/assets/"):
            self._send(200, f"asset {self.path.rsplit('/', 1)[1]}".encode())
        else:
            self._send(404, {"message": "Not Found"})

    def _body(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_POST(self) -> None:
        self.calls.append(("POST", self.path, self._body()))
        self._send(201, {"number": 12})

    def do_PATCH(self) -> None:
        self.calls.append(("PATCH", self.path, self._body()))
        self._send(200, {"number": 12})

    def log_message(self, format: str, *args: object) -> None:
        del format, args


def test_an_issue_is_opened_once_then_its_body_is_updated() -> None:
    _Api.calls, _Api.issues = [], []
    with loopback_http_server(_Api) as url:
        github = GitHub(url, REPO, "t0ken")
        assert github.upsert(TITLE, "one finding") == f"opened issue #12: {TITLE}"
        _Api.issues = [{"number": 9, "title": "other"}, {"number": 12, "title": TITLE}]
        assert github.upsert(TITLE, "two findings") == f"updated issue #12: {TITLE}"
    writes = [(m, p, b) for m, p, b in _Api.calls if m != "GET"]
    assert writes == [
        ("POST", f"/repos/{REPO}/issues",
         {"title": TITLE, "body": "one finding", "labels": ["rescan"]}),
        ("PATCH", f"/repos/{REPO}/issues/12", {"body": "two findings"}),
    ]  # fmt: skip
    assert {auth for m, _, auth in _Api.calls if m == "GET"} == {"Bearer t0ken"}


def test_a_record_is_downloaded_with_the_images_file_and_sboms_only(tmp_path: Path) -> None:
    _Api.assets = ["images.json", "api-service.sbom.cdx.json", "notes.txt"]
    with loopback_http_server(_Api) as url:
        folder = GitHub(url, REPO, "t").download_record("v1.2.3", tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["api-service.sbom.cdx.json", "images.json"]
    assert (folder / "images.json").read_text() == "asset 0"


def test_an_asset_name_that_leaves_the_record_folder_is_refused(tmp_path: Path) -> None:
    _Api.assets = ["../../x.sbom.cdx.json"]
    with loopback_http_server(_Api) as url, pytest.raises(RecordError, match="refusing"):
        GitHub(url, REPO, "t").download_record("v1.2.3", tmp_path)
    assert list((tmp_path / "v1.2.3").iterdir()) == []


def test_a_failed_call_and_a_missing_setting_are_named() -> None:
    with loopback_http_server(_Api) as url, pytest.raises(GitHubError, match=r"HTTP 404"):
        GitHub(url, REPO, "t").release_tags()
    env = {"GITHUB_API_URL": "https://api.github.com", "GITHUB_REPOSITORY": REPO}
    with pytest.raises(GitHubError, match=r"^GITHUB_TOKEN is not set"):
        GitHub.from_env(env)
    stand_in = {**env, "GITHUB_TOKEN": "t", "MICROSHOP_GITHUB_API_URL": "http://127.0.0.1:9/"}
    assert GitHub.from_env(stand_in).api == "http://127.0.0.1:9"


def test_the_local_stand_in_writes_one_file_per_issue(tmp_path: Path) -> None:
    issues = IssueFiles(tmp_path / "issues")
    assert issues.upsert(TITLE, "body\n").startswith("opened ")
    assert issues.upsert(TITLE, "new body\n").startswith("updated ")
    (path,) = (tmp_path / "issues").iterdir()
    assert path.read_text() == f"# {TITLE}\n\nnew body\n"
