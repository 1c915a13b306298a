"""The admission benchmark's own logic: its table and its errors (the cluster part runs live)."""

from __future__ import annotations

from pathlib import Path

import pytest

from microshop_ci.bench import admission
from microshop_ci.cli import main as microshop


def test_a_summary_row_has_the_count_median_and_p90_in_milliseconds() -> None:
    times = [n / 1000 for n in range(1, 11)]  # 1 ms .. 10 ms
    assert admission._summary("demo", times) == "| demo | 10 | 6 ms | 10 ms |"


def test_a_missing_images_file_is_an_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "images.json"
    assert microshop(["benchmark-admission", "--images", str(missing)]) == 1
    assert capsys.readouterr().err == (
        f"error: {missing}: cannot read the images file (No such file or directory)\n"
    )
