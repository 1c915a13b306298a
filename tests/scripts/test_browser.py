"""How scripts/setup gets a headless Chromium on Debian and on GitHub's Ubuntu 24.04 runners."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from microshop_ci import browser
from microshop_ci.browser import BrowserPlan, plan, read_os_release
from microshop_ci.cli import main as microshop
from tests.conftest import REPO_ROOT

DEBIAN = {"ID": "debian", "PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)"}
UBUNTU = {"ID": "ubuntu", "ID_LIKE": "debian", "PRETTY_NAME": "Ubuntu 24.04.3 LTS"}


def only(*paths: str) -> set[Path]:
    return {Path(p) for p in paths}


def test_debian_installs_chromium_and_its_driver() -> None:
    assert plan(DEBIAN, only().__contains__) == BrowserPlan(
        packages=("chromium", "chromium-driver"), binary=Path("/usr/bin/chromium")
    )


def test_ubuntu_uses_the_runners_chromium_and_installs_nothing() -> None:
    present = only("/usr/bin/chromium", "/usr/bin/google-chrome")
    assert plan(UBUNTU, present.__contains__) == BrowserPlan(binary=Path("/usr/bin/chromium"))


def test_ubuntu_falls_back_to_google_chrome() -> None:
    assert plan(UBUNTU, only("/usr/bin/google-chrome").__contains__) == BrowserPlan(
        binary=Path("/usr/bin/google-chrome")
    )


def test_ubuntu_without_a_browser_stops_with_the_reason() -> None:
    decided = plan(UBUNTU, only("/usr/bin/chromium-browser").__contains__)
    assert decided.packages == ()
    assert decided.binary is None
    assert decided.error == (
        "no headless Chromium on Ubuntu 24.04.3 LTS: Debian's chromium packages exist only on"
        " Debian (Ubuntu's chromium is a snap); install Chromium or Google Chrome at one of"
        " /usr/bin/chromium, /usr/bin/google-chrome, /usr/bin/google-chrome-stable, or set"
        " MICROSHOP_CHROMIUM"
    )


@pytest.mark.parametrize("os_release", [DEBIAN, UBUNTU])
def test_microshop_chromium_overrides_the_choice(os_release: dict[str, str]) -> None:
    assert plan(os_release, only("/opt/c/chrome").__contains__, "/opt/c/chrome") == BrowserPlan(
        binary=Path("/opt/c/chrome")
    )
    assert plan(os_release, only().__contains__, "/opt/c/chrome").error == (
        "MICROSHOP_CHROMIUM=/opt/c/chrome does not exist"
    )


def test_os_release_is_parsed_without_quotes(tmp_path: Path) -> None:
    path = tmp_path / "os-release"
    path.write_text('PRETTY_NAME="Ubuntu 24.04.3 LTS"\nID=ubuntu\nID_LIKE=debian\n')
    assert read_os_release(path) == {
        "PRETTY_NAME": "Ubuntu 24.04.3 LTS",
        "ID": "ubuntu",
        "ID_LIKE": "debian",
    }
    assert read_os_release(tmp_path / "missing") == {}


def test_cli_runs_with_the_system_python_and_names_a_missing_override() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "microshop_ci", "browser"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={"PYTHONPATH": str(REPO_ROOT / "scripts"), "MICROSHOP_CHROMIUM": "/nonexistent/chrome"},
    )
    assert result.returncode == 1
    assert result.stderr == (
        "error: browser: MICROSHOP_CHROMIUM=/nonexistent/chrome does not exist\n"
    )


def test_the_browser_to_start_is_the_override_else_the_first_that_exists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MICROSHOP_CHROMIUM", str(tmp_path / "chrome"))
    assert browser.chromium() == tmp_path / "chrome"
    monkeypatch.delenv("MICROSHOP_CHROMIUM")
    monkeypatch.setattr(browser, "CANDIDATES", (tmp_path / "a", tmp_path / "b"))
    assert browser.chromium() == browser.DEBIAN_CHROMIUM
    (tmp_path / "b").write_text("")
    assert browser.chromium() == tmp_path / "b"


def test_the_cli_prints_the_packages_and_the_binary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os_release = tmp_path / "os-release"
    os_release.write_text('ID=debian\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    monkeypatch.delenv("MICROSHOP_CHROMIUM", raising=False)
    monkeypatch.setattr(browser, "read_os_release", lambda: read_os_release(os_release))
    assert microshop(["browser"]) == 0
    assert capsys.readouterr().out == "chromium chromium-driver\n/usr/bin/chromium\n"
