"""The offline OSV database answers as OSV's matching rules say, on real PyPI advisories."""

from __future__ import annotations

import pytest
from packaging.version import Version

from microshop_ci.osv.db import OsvDatabase, range_affects

# (package as queried, version, advisory id, affected?) from the 2024-10-10 PyPA export
# (the carried fixture holds these advisories unchanged).
CASES = [
    # introduced 0, fixed 2.20.0
    ("requests", "2.19.0", "PYSEC-2018-28", True),
    ("requests", "2.20.0", "PYSEC-2018-28", False),  # the fixed version itself
    # introduced 2.3.0, fixed 2.31.0
    ("requests", "2.2.1", "PYSEC-2023-74", False),  # before introduced
    ("requests", "2.3.0", "PYSEC-2023-74", True),  # introduced is inclusive
    ("requests", "2.30.0", "PYSEC-2023-74", True),
    ("requests", "2.31.0", "PYSEC-2023-74", False),
    # explicit versions list only, no range
    ("gratient", "0.5", "PYSEC-2024-1", True),
    ("gratient", "0.6", "PYSEC-2024-1", False),
    # introduced 0, last_affected 1.11.0 (inclusive)
    ("py", "1.11.0", "PYSEC-2022-42969", True),
    ("py", "1.12.0", "PYSEC-2022-42969", False),
    # name normalisation (PEP 503)
    ("Requests", "2.19.0", "PYSEC-2018-28", True),
    ("Python_Jose", "1.3.1", "PYSEC-2017-28", True),
    ("python.jose", "1.3.2", "PYSEC-2017-28", False),
    # ecdsa: only the old DER advisories; CVE-2024-23342 is not in this export
    ("ecdsa", "0.13.2", "PYSEC-2019-177", True),
    ("ecdsa", "0.19.2", "PYSEC-2019-177", False),
]


@pytest.mark.parametrize(("package", "version", "vuln_id", "affected"), CASES)
def test_query_follows_osv_rules(
    osv_db: OsvDatabase, package: str, version: str, vuln_id: str, affected: bool
) -> None:
    ids = {advisory["id"] for advisory in osv_db.query(package, version)}
    assert (vuln_id in ids) is affected


def test_withdrawn_advisory_is_never_returned(osv_db: OsvDatabase) -> None:
    assert osv_db.by_id["PYSEC-2023-73"]["withdrawn"]
    assert "PYSEC-2023-73" not in {a["id"] for a in osv_db.query("redis", "4.5.3")}


def test_export_loads_every_advisory(osv_db: OsvDatabase) -> None:
    assert sorted(osv_db.by_id) == [
        "PYSEC-2017-28",
        "PYSEC-2018-28",
        "PYSEC-2019-177",
        "PYSEC-2022-42969",
        "PYSEC-2023-73",
        "PYSEC-2023-74",
        "PYSEC-2024-1",
    ]


def test_ecdsa_minerva_advisory_is_absent_from_the_offline_export(osv_db: OsvDatabase) -> None:
    assert osv_db.get("GHSA-wj6h-64fc-37mp") is None
    assert osv_db.get("CVE-2024-23342") is None


def test_lookup_by_alias_finds_the_advisory(osv_db: OsvDatabase) -> None:
    advisory = osv_db.get("CVE-2018-18074")
    assert advisory is not None
    assert advisory["id"] == "PYSEC-2018-28"


@pytest.mark.parametrize(
    ("events", "version", "affected"),
    [
        ([{"introduced": "1.0"}, {"limit": "2.0"}], "1.5", True),
        ([{"introduced": "1.0"}, {"limit": "2.0"}], "2.0", False),
        ([{"introduced": "0"}, {"fixed": "1.0"}, {"introduced": "2.0"}], "1.5", False),
        ([{"introduced": "0"}, {"fixed": "1.0"}, {"introduced": "2.0"}], "2.5", True),
        ([{"fixed": "1.0"}, {"introduced": "0"}], "0.5", True),  # events are sorted first
        ([{"introduced": "1.0"}, {"last_affected": "1.2"}], "1.2.post1", False),
    ],
)
def test_range_events_follow_osv_evaluation(
    events: list[dict[str, str]], version: str, affected: bool
) -> None:
    assert range_affects(events, Version(version)) is affected
