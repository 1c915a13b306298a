"""scripts/setup: the Debian packages it wants and installs (as root or through sudo), the browser
plan, the engine and the locked environment, and its one-line refusal of an unknown option."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from microshop_ci import browser
from microshop_ci.bootstrap import setup
from microshop_ci.cli import main as microshop
from microshop_ci.commands import BY_NAME
from microshop_ci.core.paths import REPO_ROOT, SCRIPTS_DIR
from microshop_ci.core.uv import pinned_version
from tests.scripts.bootstrap.conftest import Fake

Recorded = Callable[[], list[str]]
BASE = ["debootstrap", "debian-archive-keyring", "gpgv", "wrk", "jq", "libseccomp-dev"]
DEBIAN_PLAN = browser.BrowserPlan(
    packages=("chromium", "chromium-driver"), binary=Path("/usr/bin/chromium")
)
# dpkg-query: every package is installed but those named in $STATE/absent (one a line).
DPKG_QUERY = """
while read -r name; do
  [ "$name" = "$3" ] && { echo "dpkg-query: no packages found matching $3" >&2; exit 1; }
done < "$STATE/absent"
printf 'install ok installed'"""


def test_the_options_turn_off_docker_and_the_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[setup.Options] = []
    monkeypatch.setattr(setup, "setup", asked.append)
    assert microshop(["setup"]) == 0
    assert microshop(["setup", "--no-docker", "--no-browser"]) == 0
    assert asked == [setup.Options(docker=True, browser=True), setup.Options(False, False)]


def test_an_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert microshop(["setup", "--now"]) == 2
    assert capsys.readouterr().err == (
        "error: microshop setup: unrecognized arguments: --now (see microshop setup --help)\n"
    )


def test_an_unknown_option_is_one_error_line_and_exit_2() -> None:
    result = subprocess.run(
        [str(SCRIPTS_DIR / "setup"), "--no-browser", "--fast"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: microshop setup: unrecognized arguments: --fast (see microshop setup --help)\n"
    )


def test_wanted_packages_add_docker_where_no_engine_is_installed_and_the_browser_plan() -> None:
    wanted = setup.wanted_packages
    assert wanted(setup.Options(), False, DEBIAN_PLAN) == [
        *BASE, "docker.io", "chromium", "chromium-driver"
    ]  # fmt: skip
    assert wanted(setup.Options(), True, DEBIAN_PLAN) == [*BASE, "chromium", "chromium-driver"]
    assert wanted(setup.Options(docker=False), False, None) == BASE
    runner_plan = browser.BrowserPlan(binary=Path("/usr/bin/google-chrome"))
    assert wanted(setup.Options(), True, runner_plan) == BASE


def test_a_machine_without_a_browser_stops_with_the_plans_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(setup.SetupError) as caught:
        setup.wanted_packages(setup.Options(), True, browser.BrowserPlan(error="no Chromium here"))
    assert str(caught.value) == (
        "scripts/setup: no browser for the storefront tests (or run with --no-browser)"
    )
    assert capsys.readouterr().err == "browser: no Chromium here\n"


def test_missing_packages_are_those_dpkg_does_not_list_as_installed(
    tmp_path: Path, fake: Fake, recorded: Recorded
) -> None:
    fake("dpkg-query", DPKG_QUERY)
    (tmp_path / "absent").write_text("wrk\njq\n")
    assert setup.missing(BASE) == ["wrk", "jq"]
    assert recorded() == [f"dpkg-query -W -f=${{Status}} {name}" for name in BASE]
    fake("dpkg-query", "printf 'deinstall ok config-files'")
    assert setup.missing(["jq"]) == ["jq"]  # removed, its config left: not installed
    fake("dpkg-query", "printf 'unknown ok not-installed'")
    assert setup.missing(["jq"]) == ["jq"]  # known to dpkg, never installed


def test_no_dpkg_query_means_nothing_counts_as_installed(fake: Fake) -> None:
    assert setup.missing(["jq"]) == ["jq"]


@pytest.mark.parametrize(("uid", "prefix"), [(0, ""), (1000, "sudo ")])
def test_packages_install_as_root_or_through_sudo(
    uid: int,
    prefix: str,
    tmp_path: Path,
    fake: Fake,
    recorded: Recorded,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake("sudo", 'exec "$@"')
    fake("apt-get", 'echo "$DEBIAN_FRONTEND" >> "$STATE/frontend"')
    monkeypatch.setattr(setup.os, "geteuid", lambda: uid)
    setup.install(["wrk", "jq"])
    apt = [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends wrk jq",
    ]
    expected = [line for call in apt for line in ([prefix + call, call] if prefix else [call])]
    assert recorded() == expected
    assert (tmp_path / "frontend").read_text() == "noninteractive\nnoninteractive\n"
    assert capsys.readouterr().err.endswith("] installing Debian packages: wrk jq\n")


def _fake_uv(tmp_path: Path, fake: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pinned uv, already in a fresh cache: a fake that records its call and folder."""
    monkeypatch.setenv("MICROSHOP_CACHE", str(tmp_path / "cache"))
    uv_dir = tmp_path / "cache" / "tools" / "uv" / pinned_version() / "bin"
    uv_dir.mkdir(parents=True)
    (fake("uv", 'echo "$PWD" > "$STATE/uv-cwd"')).rename(uv_dir / "uv")


def test_setup_installs_what_is_missing_then_syncs_the_locked_environment(
    tmp_path: Path,
    fake: Fake,
    recorded: Recorded,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake("dpkg-query", DPKG_QUERY)
    fake("apt-get", "exit 0")
    (tmp_path / "absent").write_text("jq\nchromium-driver\n")
    _fake_uv(tmp_path, fake, monkeypatch)
    monkeypatch.setattr(setup.os, "geteuid", lambda: 0)
    monkeypatch.setattr(setup, "browser_plan", lambda: DEBIAN_PLAN)
    assert microshop(["setup", "--no-docker"]) == 0
    calls = recorded()
    assert [c for c in calls if not c.startswith("dpkg-query")] == [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends jq chromium-driver",
        "uv sync --frozen --all-packages --quiet",
    ]
    assert len([c for c in calls if c.startswith("dpkg-query")]) == len(BASE) + 2
    assert (tmp_path / "uv-cwd").read_text() == f"{REPO_ROOT}\n"
    lines = [line.split("] ", 1)[1] for line in capsys.readouterr().err.splitlines()]
    assert lines == [
        "browser: /usr/bin/chromium",
        "installing Debian packages: jq chromium-driver",
        "syncing the locked Python environment",
    ]


def test_setup_with_everything_installed_only_starts_the_engine_and_syncs(
    tmp_path: Path,
    fake: Fake,
    recorded: Recorded,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake("dpkg-query", DPKG_QUERY)
    fake("dockerd", "exit 0")  # installed: no docker.io wanted
    (tmp_path / "absent").write_text("")
    _fake_uv(tmp_path, fake, monkeypatch)
    engines: list[object] = []
    monkeypatch.setattr(setup.dockerd, "ensure", engines.append)
    assert microshop(["setup", "--no-browser"]) == 0
    assert recorded() == [
        *(f"dpkg-query -W -f=${{Status}} {name}" for name in BASE),
        "uv sync --frozen --all-packages --quiet",
    ]
    assert len(engines) == 1


def test_a_failed_install_is_one_error_line_and_exit_1(
    tmp_path: Path,
    fake: Fake,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake("dpkg-query", DPKG_QUERY)
    fake("apt-get", "echo 'E: Unable to locate package wrk' >&2; exit 100")
    (tmp_path / "absent").write_text("wrk\n")
    monkeypatch.setattr(setup.os, "geteuid", lambda: 0)
    assert microshop(["setup", "--no-docker", "--no-browser"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: apt-get exited 100: E: Unable to locate package wrk"
    )


@pytest.mark.parametrize(
    ("script", "command", "module"),
    [("setup", "setup", "bootstrap.setup"), ("dockerd-up", "dockerd", "bootstrap.dockerd")],
)
def test_the_entry_point_is_one_documented_line_over_its_module(
    script: str, command: str, module: str
) -> None:
    lines = (SCRIPTS_DIR / script).read_text().splitlines()
    code = [line for line in lines[1:] if line.strip() and not line.startswith("#")]
    assert code == [
        f'source "$(dirname "${{BASH_SOURCE[0]}}")/lib.sh"; microshop_stdlib {command} "$@"'
    ]
    assert BY_NAME[command].module == f"microshop_ci.{module}"
    logic = f"# Logic: scripts/microshop_ci/{module.replace('.', '/')}.py,"
    assert sum(line.startswith(logic) for line in lines) == 1
