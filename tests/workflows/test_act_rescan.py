"""rescan.yml run by act (as tests/workflows/test_act.py runs the others): one released image in
a loopback registry, its release record behind a loopback stand-in of GitHub's releases and
issues API, OSV's API served from the offline export plus an advisory published after the
release, and Trivy's (empty) database from the same registry. The new advisory fails the run,
opens the image version's issue and reaches code scanning; the excepted one stays excepted."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from microshop_ci.osv.db import OsvDatabase
from microshop_ci.osv.server import serve_in_thread
from tests.conftest import loopback_http_server, tool_path
from tests.scripts.rescan.test_rescan import EXCEPTED_ID, NEW_ID, RECORD, advisory, advisory_zip
from tests.workflows.test_act import ActRun, copy_checkout, loopback_registry, run_act
from tests.workflows.trivy_db import push_empty_db

pytestmark = [pytest.mark.slow, pytest.mark.docker]
REPO = "microshop/microshop"
JOB = "re-scan the supported releases"


class _GitHub(BaseHTTPRequestHandler):
    """Releases (one, v1.2.3, with its record's assets) and issues, as GitHub's REST API."""

    assets: ClassVar[dict[str, bytes]] = {}
    calls: ClassVar[list[tuple[str, str, Any]]] = []
    lock = threading.Lock()

    def _send(self, status: int, payload: Any, raw: bytes | None = None) -> None:
        data = raw if raw is not None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _record(self, body: Any = None) -> None:
        with self.lock:
            self.calls.append((self.command, self.path, body))

    def do_GET(self) -> None:
        self._record()
        names = sorted(self.assets)
        if self.path == f"/repos/{REPO}/releases?per_page=100":
            released = {"tag_name": "v1.2.3", "draft": False, "prerelease": False}
            candidate = {"tag_name": "v1.3.0-rc1", "draft": False, "prerelease": True}
            self._send(200, [released, candidate])
        elif self.path == f"/repos/{REPO}/releases/tags/v1.2.3":
            self._send(200, {"assets": [{"id": i, "name": n} for i, n in enumerate(names)]})
        elif self.path.startswith(f"/repos/{REPO}/releases/assets/"):
            self._send(200, None, self.assets[names[int(self.path.rsplit("/", 1)[1])]])
        elif self.path.startswith(f"/repos/{REPO}/issues?state=open&labels=rescan"):
            self._send(200, [])
        else:
            self._send(404, {"message": "Not Found"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._record(body)
        if self.path == f"/repos/{REPO}/issues":
            self._send(201, {"number": 7})
        else:
            self._send(404, {"message": "Not Found"})

    def log_message(self, format: str, *args: object) -> None:
        del format, args


def released_image(address: str, dest: Path) -> str:
    """A small image pushed to the loopback registry as the released api-service; its ref."""
    layer = dest / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        info = tarfile.TarInfo("etc/release")
        info.size = 7
        tar.addfile(info, io.BytesIO(b"v1.2.3\n"))
    out = subprocess.run(
        [tool_path("crane"), "append", "-f", str(layer), "-t",
         f"{address}/microshop/api-service:v1.2.3"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout.strip()  # fmt: skip
    return out


@dataclass(frozen=True)
class RescanRun:
    """The act run and the calls GitHub's stand-in received."""

    act: ActRun
    calls: list[tuple[str, str, Any]]


@pytest.fixture(scope="module")
def rescan_run(tmp_path_factory: pytest.TempPathFactory) -> RescanRun:
    root = tmp_path_factory.mktemp("act-rescan")
    repo = copy_checkout(root)
    remote = f"https://github.com/{REPO}.git"  # github.repository (never fetched)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", remote], check=True)
    with loopback_registry(root / "release-registry") as address:
        ref = released_image(address, root)
        _GitHub.assets = {
            "images.json": json.dumps({"api-service": {"ref": ref}}).encode(),
            "api-service.sbom.cdx.json": (RECORD / "api-service.sbom.cdx.json").read_bytes(),
        }
        _GitHub.calls = []
        osv = advisory_zip(root, advisory(NEW_ID, "starlette", "0.49.4"),
                           advisory(EXCEPTED_ID, "ecdsa", None))  # fmt: skip
        osv_db = OsvDatabase.from_zip(osv)
        with loopback_http_server(_GitHub) as api, serve_in_thread(osv_db) as osv_url:
            run = run_act(
                tool_path("act"), repo, repo / ".github" / "workflows" / "rescan.yml", "rescan",
                secrets=("GITHUB_TOKEN=act-stand-in-token",),
                extra_env={"MICROSHOP_GITHUB_API_URL": api, "MICROSHOP_OSV_URL": osv_url,
                           "TRIVY_DB_REPOSITORY": push_empty_db(address),
                           "TRIVY_CACHE_DIR": str(root / "trivy-cache")},
            )  # fmt: skip
    return RescanRun(run, list(_GitHub.calls))


def test_the_rescan_fails_on_the_new_advisory_and_opens_the_image_versions_issue(
    rescan_run: RescanRun,
) -> None:
    run = rescan_run.act
    assert run.returncode == 1
    assert run.results == {JOB: "failed"}
    assert "| | v1.2.3 | api-service | trivy-vuln | passed | 0 | 0 |  |" in run.log
    assert "| | v1.2.3 | api-service | pip-audit | failed | 1 | 1 |" in run.log
    title = "Re-scan: api-service v1.2.3 has new vulnerability findings"
    assert f"| rescan: opened issue #7: {title}" in run.log
    posts = [(path, body) for method, path, body in rescan_run.calls if method == "POST"]
    assert len(posts) == 1
    path, body = posts[0]
    assert path == f"/repos/{REPO}/issues"
    assert body["title"] == title
    assert body["labels"] == ["rescan"]
    rows = [line for line in body["body"].splitlines() if line.startswith("| pip-audit |")]
    assert len(rows) == 1
    assert rows[0].startswith(f"| pip-audit | {NEW_ID} | high | starlette | 0.49.4 |")
    assert f"- pip-audit:{EXCEPTED_ID} on ecdsa" in body["body"]
    # the pre-release is not a supported release: only v1.2.3's assets were fetched
    fetched = [p for m, p, _ in rescan_run.calls if m == "GET" and "/releases/tags/" in p]
    assert fetched == [f"/repos/{REPO}/releases/tags/v1.2.3"]


def test_the_rescan_still_summarises_uploads_sarif_and_keeps_its_reports(
    rescan_run: RescanRun,
) -> None:
    log = rescan_run.act.log
    assert re.search(r"✅  Success - Main Write the re-scan summary to the job summary", log)
    assert (
        "| upload-sarif stand-in: category rescan: 2 files, tools pip-audit, trivy (trivy-vuln),"
        in log
    )
    assert re.search(r"✅  Success - Main Upload the re-scan SARIF to code scanning", log)
    files = rescan_run.act.artifact("rescan-reports")
    assert "summary.md" in files
    assert {"sarif/pip-audit.sarif", "sarif/trivy-vuln.sarif"} <= set(files)
    assert rescan_run.act.left_running == ()
