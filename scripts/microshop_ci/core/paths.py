"""The one repository root every module derives its paths from."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
SCRIPTS_DIR = REPO_ROOT / "scripts"
LOCAL_DIR = REPO_ROOT / ".local"
REPORTS_DIR = REPO_ROOT / "reports"
