"""The OSV HTTP service: the endpoints pip-audit and people use, and clear 4xx on bad input."""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from microshop_ci.cli import main as microshop
from microshop_ci.osv.db import OsvDatabase
from microshop_ci.osv.server import serve_in_thread
from tests.conftest import interruptible_module


@pytest.fixture(scope="module")
def osv_url(osv_db: OsvDatabase) -> Iterator[str]:
    with serve_in_thread(osv_db) as url:
        yield url


def test_query_returns_full_advisories_for_an_affected_version(osv_url: str) -> None:
    body = {"package": {"name": "requests", "ecosystem": "PyPI"}, "version": "2.19.0"}
    response = httpx.post(f"{osv_url}/v1/query", json=body)
    assert response.status_code == 200
    vulns = response.json()["vulns"]
    assert sorted(v["id"] for v in vulns) == ["PYSEC-2018-28", "PYSEC-2023-74"]
    assert all("affected" in v and "details" in v for v in vulns)


def test_query_answers_an_empty_object_when_nothing_matches(osv_url: str) -> None:
    body = {"package": {"name": "requests", "ecosystem": "PyPI"}, "version": "2.32.3"}
    response = httpx.post(f"{osv_url}/v1/query", json=body)
    assert response.status_code == 200
    assert response.json() == {}


def test_querybatch_returns_ids_per_query_in_order(osv_url: str) -> None:
    queries = [
        {"package": {"name": "requests", "ecosystem": "PyPI"}, "version": "2.20.0"},
        {"package": {"name": "gratient", "ecosystem": "PyPI"}, "version": "0.5"},
        {"package": {"name": "gratient", "ecosystem": "PyPI"}, "version": "0.6"},
    ]
    response = httpx.post(f"{osv_url}/v1/querybatch", json={"queries": queries})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [[v["id"] for v in r.get("vulns", [])] for r in results] == [
        ["PYSEC-2023-74"],
        ["PYSEC-2024-1"],
        [],
    ]


def test_vulns_endpoint_returns_one_advisory_or_404(osv_url: str) -> None:
    found = httpx.get(f"{osv_url}/v1/vulns/PYSEC-2018-28")
    assert found.status_code == 200
    assert found.json()["aliases"] == ["CVE-2018-18074", "GHSA-x84v-xcm2-53pg"]
    missing = httpx.get(f"{osv_url}/v1/vulns/PYSEC-0000-0")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"package": {"name": "lodash", "ecosystem": "npm"}, "version": "1.0.0"}, "PyPI"),
        (
            {"package": {"name": "requests", "ecosystem": "PyPI"}, "version": "not a version"},
            "PEP 440",
        ),
        ({"package": {"purl": "pkg:pypi/requests@2.19.0"}}, "package.name"),
        ({"commit": "abc", "package": {"name": "requests", "ecosystem": "PyPI"}}, "commit"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_queries_get_a_400_that_says_why(osv_url: str, body: object, message: str) -> None:
    response = httpx.post(f"{osv_url}/v1/query", json=body)
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_body_that_is_not_json_gets_a_400(osv_url: str) -> None:
    response = httpx.post(f"{osv_url}/v1/query", content=b"{nope")
    assert response.status_code == 400
    assert response.json()["message"] == "request body is not JSON"


def test_osv_server_command_refuses_a_file_that_is_not_an_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "x.zip"
    bogus.write_text("not a zip")
    assert microshop(["osv-server", "--zip", str(bogus)]) == 2
    assert f"{bogus}: not an OSV export zip" in capsys.readouterr().err


def test_the_server_command_prints_its_url_serves_and_stops_on_ctrl_c(
    osv_fixture_zip: Path,
) -> None:
    proc = subprocess.Popen(
        interruptible_module("microshop_ci", "osv-server", "--zip", str(osv_fixture_zip)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.fullmatch(r"(http://127\.0\.0\.1:\d+/v1/query) \((\d+) advisories\)\n", line)
        assert match, line
        assert int(match[2]) == len(OsvDatabase.from_zip(osv_fixture_zip).by_id)
        body = {"package": {"name": "requests", "ecosystem": "PyPI"}, "version": "2.19.0"}
        assert len(httpx.post(match[1], json=body, timeout=10).json()["vulns"]) == 2
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (0, "", "")
