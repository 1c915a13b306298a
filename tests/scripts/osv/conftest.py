"""The shared PyPI OSV export, loaded once per session."""

from __future__ import annotations

import pytest

from microshop_ci.osv.db import OsvDatabase, default_zip


@pytest.fixture(scope="session")
def osv_db() -> OsvDatabase:
    """The 2024-10-10 PyPA advisory export from ../shared/data/osv."""
    path = default_zip()
    if not path.exists():
        pytest.fail(f"the shared OSV export is missing: {path}")
    return OsvDatabase.from_zip(path)
