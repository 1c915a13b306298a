"""The carried OSV fixture (tests/fixtures/osv), loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from microshop_ci.osv.db import OsvDatabase


@pytest.fixture(scope="session")
def osv_db(osv_fixture_zip: Path) -> OsvDatabase:
    """Seven real PyPA advisories (2024-10-10 export), the same here and on GitHub."""
    return OsvDatabase.from_zip(osv_fixture_zip)
