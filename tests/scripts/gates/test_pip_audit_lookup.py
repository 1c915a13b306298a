"""pip-audit's advisory lookup: the local database offline, OSV's vulns endpoint online."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from microshop_ci.gates import pip_audit_gate
from microshop_ci.gates.context import Context
from tests.conftest import free_port, loopback_http_server

ADVISORY = {"id": "PYSEC-2018-28", "aliases": ["CVE-2018-18074"]}


class _Osv(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        known = self.path == "/v1/vulns/PYSEC-2018-28"
        data = json.dumps(ADVISORY if known else {"code": 5, "message": "Bug not found."}).encode()
        self.send_response(200 if known else 404)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        del format, args


def _ctx(osv_db: Any = None, osv_url: str | None = None) -> Context:
    return cast(Context, SimpleNamespace(osv_db=osv_db, osv_url=osv_url))


def test_online_an_advisory_is_fetched_and_an_unknown_one_is_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with loopback_http_server(_Osv) as url:
        monkeypatch.setattr(pip_audit_gate, "ONLINE_OSV", url)
        assert pip_audit_gate._lookup(_ctx(), "PYSEC-2018-28") == ADVISORY
        assert pip_audit_gate._lookup(_ctx(), "PYSEC-0000-0") is None


def test_online_the_osv_service_pip_audit_asked_answers_the_lookup_too() -> None:
    with loopback_http_server(_Osv) as url:
        assert pip_audit_gate._lookup(_ctx(osv_url=url), "PYSEC-2018-28") == ADVISORY


def test_online_an_unreachable_osv_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pip_audit_gate, "ONLINE_OSV", f"http://127.0.0.1:{free_port()}")
    assert pip_audit_gate._lookup(_ctx(), "PYSEC-2018-28") is None


def test_offline_the_local_database_answers() -> None:
    db = {"PYSEC-2018-28": ADVISORY}
    assert pip_audit_gate._lookup(_ctx(db), "PYSEC-2018-28") == ADVISORY
    assert pip_audit_gate._lookup(_ctx(db), "PYSEC-0000-0") is None


def test_a_package_is_located_at_its_lock_entry(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text('[[package]]\nname = "fastapi"\n\n[[package]]\nname = "Jinja2"\n')
    assert pip_audit_gate._lock_line(lock, "jinja2") == 5
    assert pip_audit_gate._lock_line(lock, "httpx") is None
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("fastapi==0.120.1 \\\n    --hash=sha256:x\nhttpx==0.28.1\n")
    assert pip_audit_gate._lock_line(requirements, "httpx") == 3
