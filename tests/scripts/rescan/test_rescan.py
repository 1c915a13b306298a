"""The release re-scan against the offline advisory data: a new advisory for a package in a
released image's SBOM is reported and gets its issue; an excepted one is not."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from microshop_ci.cli import main as microshop
from microshop_ci.osv.db import default_zip
from microshop_ci.rescan.records import RecordError, latest, local_records
from tests.conftest import REPO_ROOT

RECORD = REPO_ROOT / "tests" / "fixtures" / "rescan" / "v1.2.3"
NEW_ID = "PYSEC-2099-1"
EXCEPTED_ID = "GHSA-wj6h-64fc-37mp"  # policies/gates/exceptions.yaml: ecdsa, until 2027-02-28


def advisory(vuln_id: str, package: str, fixed: str | None) -> dict[str, Any]:
    events: list[dict[str, str]] = [{"introduced": "0"}, *([{"fixed": fixed}] if fixed else [])]
    return {
        "id": vuln_id,
        "modified": "2099-01-02T00:00:00Z",
        "summary": f"a vulnerability in {package}",
        "details": f"{package} mishandles something (published after the release).",
        "affected": [{"package": {"ecosystem": "PyPI", "name": package},
                      "ranges": [{"type": "ECOSYSTEM", "events": events}]}],
        "database_specific": {"severity": "HIGH"},
    }  # fmt: skip


def advisory_zip(dest: Path, *added: dict[str, Any]) -> Path:
    """The shared offline export plus the given advisories (fresh data after the release)."""
    path = dest / "osv.zip"
    shutil.copyfile(default_zip(), path)
    with zipfile.ZipFile(path, "a") as archive:
        for entry in added:
            archive.writestr(f"{entry['id']}.json", json.dumps(entry))
    return path


@pytest.fixture
def records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One release record (api-service v1.2.3); no Trivy database on this machine."""
    root = tmp_path / "releases"
    shutil.copytree(RECORD, root / "v1.2.3")
    monkeypatch.setenv("TRIVY_CACHE_DIR", str(tmp_path / "no-trivy-db"))
    monkeypatch.delenv("MICROSHOP_OSV_URL", raising=False)
    return root


def run(records: Path, tmp_path: Path, osv: Path) -> int:
    return microshop(["rescan", "--offline", "--records", str(records), "--report-dir",
                      str(tmp_path / "report"), "--osv-zip", str(osv)])  # fmt: skip


def test_a_new_advisory_is_reported_with_its_issue_and_the_excepted_one_is_not(
    records: Path, tmp_path: Path
) -> None:
    osv = advisory_zip(tmp_path, advisory(NEW_ID, "starlette", "0.49.4"),
                       advisory(EXCEPTED_ID, "ecdsa", None))  # fmt: skip
    assert run(records, tmp_path, osv) == 1
    report = tmp_path / "report"
    summary = (report / "summary.md").read_text()
    assert "| v1.2.3 | api-service | pip-audit | failed | 1 | 1 |" in summary
    assert "| v1.2.3 | api-service | trivy-vuln | not-run | 0 | 0 |" in summary
    (issue,) = (report / "issues").iterdir()
    text = issue.read_text()
    assert text.startswith("# Re-scan: api-service v1.2.3 has new vulnerability findings\n")
    table = [line for line in text.splitlines() if line.startswith("| pip-audit |")]
    assert table == [
        f"| pip-audit | {NEW_ID} | high | starlette | 0.49.4 | starlette==0.49.3 "
        "(api-service v1.2.3): a vulnerability in starlette [fixed in 0.49.4] |"
    ]
    assert f"- pip-audit:{EXCEPTED_ID} on ecdsa (owner" in text
    sarif = json.loads((report / "sarif" / "pip-audit.sarif").read_text())
    results = {r["ruleId"]: r for r in sarif["runs"][0]["results"]}
    assert sorted(results) == [EXCEPTED_ID, NEW_ID]
    assert "suppressions" in results[EXCEPTED_ID]
    assert "suppressions" not in results[NEW_ID]
    assert not (report / "sarif" / "trivy-vuln.sarif").exists()  # it ran nowhere


def test_the_next_run_updates_the_same_issue(records: Path, tmp_path: Path) -> None:
    osv = advisory_zip(tmp_path, advisory(NEW_ID, "starlette", None))
    assert run(records, tmp_path, osv) == 1
    assert run(records, tmp_path, osv) == 1
    assert len(list((tmp_path / "report" / "issues").iterdir())) == 1


def test_only_excepted_findings_pass_and_open_no_issue(
    records: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    osv = advisory_zip(tmp_path, advisory(EXCEPTED_ID, "ecdsa", None))
    assert run(records, tmp_path, osv) == 0
    assert "| v1.2.3 | api-service | pip-audit | passed | 0 | 1 |" in capsys.readouterr().out
    assert not (tmp_path / "report" / "issues").exists()


def test_the_supported_releases_are_the_last_n_version_tags() -> None:
    tags = ["v1.10.0", "v1.2.0", "latest", "v1.9.3", "v2.0.0-rc1", "v0.9.0"]
    assert latest(tags, 3) == ["v1.2.0", "v1.9.3", "v1.10.0"]
    assert latest(tags, 0) == []


def test_a_record_without_the_sbom_of_an_image_is_refused_by_name(
    records: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (records / "v1.2.3" / "api-service.sbom.cdx.json").unlink()
    with pytest.raises(RecordError, match=r"api-service\.sbom\.cdx\.json: the SBOM of api-service"):
        local_records(records, 3)
    assert run(records, tmp_path, tmp_path / "unused.zip") == 2
    assert "the SBOM of api-service v1.2.3 is missing from the record" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


def test_the_pipeline_rescans_one_release_record_with_the_offline_advisories(
    records: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    osv = advisory_zip(tmp_path, advisory(NEW_ID, "starlette", "0.49.4"),
                       advisory(EXCEPTED_ID, "ecdsa", None))  # fmt: skip
    monkeypatch.setenv("MICROSHOP_OSV_ZIP", str(osv))
    report = tmp_path / "pipeline"
    code = microshop(["pipeline", "--rescan", str(records / "v1.2.3"), "--offline", "--plain",
                      "--report-dir", str(report)])  # fmt: skip
    assert code == 1
    summary = json.loads((report / "summary.json").read_text())
    assert [(s["name"], s["verdict"]) for s in summary["stages"]] == [("rescan", "failed")]
    table = (report / "rescan" / "summary.md").read_text()
    assert "| v1.2.3 | api-service | pip-audit | failed | 1 | 1 |" in table
    (issue,) = (report / "rescan" / "issues").iterdir()
    assert f"| pip-audit | {NEW_ID} |" in issue.read_text()
    assert f"| pip-audit | {EXCEPTED_ID} |" not in issue.read_text()
