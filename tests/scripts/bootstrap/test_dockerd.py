"""scripts/dockerd-up: start dockerd only when it does not answer, reload its runtime, or check
the other engine DOCKER_HOST names; every wait has a bound."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from microshop_ci.bootstrap import dockerd
from microshop_ci.cli import main as microshop
from tests.scripts.bootstrap.conftest import Fake

BUILD_MACHINE = "Name:\tpython3\nCapBnd:\t000001fffeffffff\n"  # lacks CAP_SYS_RESOURCE
FULL_SET = "Name:\tpython3\nCapBnd:\t000001ffffffffff\n"
# docker info answers once $STATE/up exists; --format prints $STATE/runtime (shell built-ins
# only: PATH holds nothing but the fakes).
DOCKER = """
[ -f "$STATE/up" ] || { echo "Cannot connect to the Docker daemon" >&2; exit 1; }
if [ "$2" = --format ]; then read -r runtime < "$STATE/runtime"; echo "$runtime"; fi
exit 0"""

Recorded = Callable[[], list[str]]


def _host(tmp_path: Path, status: str, bound: float = 5.0) -> dockerd.Host:
    (tmp_path / "status").write_text(status)
    return dockerd.Host(
        log_file=tmp_path / "dockerd.log",
        daemon_json=tmp_path / "daemon.json",
        status=tmp_path / "status",
        start_bound=bound,
        reload_bound=bound,
        interval=0.05,
    )


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MICROSHOP_CACHE", str(tmp_path / "cache"))


def test_the_default_bounds_are_60_s_to_start_and_30_s_to_reload() -> None:
    host = dockerd.Host()
    assert (host.start_bound, host.reload_bound, host.interval) == (60.0, 30.0, 1.0)
    assert host.log_file == Path("/var/log/microshop-dockerd.log")


def test_an_answering_dockerd_with_its_runtime_set_starts_nothing(
    tmp_path: Path, fake: Fake, recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    fake("docker", DOCKER)
    fake("dockerd", "exit 0")
    fake("pkill", "exit 0")
    (tmp_path / "up").touch()
    dockerd.ensure({}, _host(tmp_path, FULL_SET))
    assert recorded() == ["docker info"]
    assert not (tmp_path / "daemon.json").exists()
    assert capsys.readouterr().err == ""


def test_a_running_dockerd_rereads_its_config_for_the_new_runtime(
    tmp_path: Path, fake: Fake, recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    fake("docker", DOCKER)
    fake("pkill", 'echo microshop-runc > "$STATE/runtime"')
    (tmp_path / "up").touch()
    (tmp_path / "runtime").write_text("runc\n")
    host = _host(tmp_path, BUILD_MACHINE)
    dockerd.ensure({}, host)
    assert recorded() == [
        "docker info",
        "pkill -HUP -x dockerd",
        "docker info --format {{.DefaultRuntime}}",
    ]
    assert json.loads(host.daemon_json.read_text())["default-runtime"] == "microshop-runc"
    assert capsys.readouterr().err.endswith(
        f"] dockerd: new default runtime microshop-runc (re-reading {host.daemon_json})\n"
    )
    dockerd.ensure({}, host)  # configured now: a second run only asks
    assert recorded()[3:] == ["docker info"]


def test_a_dockerd_that_never_takes_the_runtime_fails_after_the_bound(
    tmp_path: Path, fake: Fake, recorded: Recorded
) -> None:
    fake("docker", DOCKER)
    fake("pkill", "exit 0")
    (tmp_path / "up").touch()
    (tmp_path / "runtime").write_text("runc\n")
    start = time.monotonic()
    with pytest.raises(dockerd.DockerdError) as caught:
        dockerd.ensure({}, _host(tmp_path, BUILD_MACHINE, bound=1.0))
    assert 1.0 <= time.monotonic() - start < 5.0
    assert str(caught.value) == (
        "dockerd did not take microshop-runc as its default runtime within 1 s"
    )
    assert recorded()[:2] == ["docker info", "pkill -HUP -x dockerd"]


def test_a_silent_engine_is_started_detached_with_its_log(
    tmp_path: Path, fake: Fake, recorded: Recorded, capsys: pytest.CaptureFixture[str]
) -> None:
    fake("docker", DOCKER)
    # dockerd: says where it runs (its session), then starts answering
    fake(
        "dockerd",
        f'exec {sys.executable} -c "import os; print(os.getsid(0), os.getpid());'
        " open(os.environ['STATE'] + '/up', 'w').close()\"",
    )
    host = _host(tmp_path, FULL_SET)
    dockerd.ensure({}, host)
    calls = recorded()
    # dockerd runs beside the polling, so its line may come after a `docker info` of the poll
    assert calls[0] == "docker info"
    assert calls.count("dockerd ") == 1
    assert set(calls) == {"docker info", "dockerd "}
    session, pid = host.log_file.read_text().split()
    assert session == pid  # its own session: it outlives scripts/dockerd-up
    assert int(session) != os.getsid(0)
    assert capsys.readouterr().err.endswith(f"] starting dockerd (log: {host.log_file})\n")


def test_a_dockerd_that_never_answers_fails_after_the_bound(tmp_path: Path, fake: Fake) -> None:
    fake("docker", DOCKER)
    fake("dockerd", "echo cannot start >&2; exit 1")
    host = _host(tmp_path, FULL_SET, bound=1.0)
    start = time.monotonic()
    with pytest.raises(dockerd.DockerdError) as caught:
        dockerd.ensure({}, host)
    assert 1.0 <= time.monotonic() - start < 5.0
    assert str(caught.value) == f"dockerd did not answer within 1 s; see {host.log_file}"
    assert host.log_file.read_text() == "cannot start\n"


def test_no_dockerd_installed_says_to_run_setup(
    tmp_path: Path, fake: Fake, recorded: Recorded
) -> None:
    fake("docker", DOCKER)
    with pytest.raises(dockerd.DockerdError) as caught:
        dockerd.ensure({}, _host(tmp_path, FULL_SET))
    assert str(caught.value) == "dockerd not found: run scripts/setup (installs Debian's docker.io)"
    assert recorded() == ["docker info"]


def test_another_engine_that_does_not_answer_is_a_clear_error_and_nothing_else(
    tmp_path: Path, fake: Fake, recorded: Recorded
) -> None:
    fake("docker", DOCKER)
    fake("dockerd", "exit 0")
    host = _host(tmp_path, BUILD_MACHINE)
    with pytest.raises(dockerd.DockerdError) as caught:
        dockerd.ensure({"DOCKER_HOST": "unix:///tmp/other.sock"}, host)
    assert str(caught.value) == (
        "DOCKER_HOST=unix:///tmp/other.sock does not answer (docker info failed)"
    )
    assert recorded() == ["docker info"]
    assert not host.daemon_json.exists()  # this machine's dockerd is left alone


def test_another_engine_that_answers_leaves_this_machines_dockerd_alone(
    tmp_path: Path, fake: Fake, recorded: Recorded
) -> None:
    fake("docker", DOCKER)
    (tmp_path / "up").touch()
    host = _host(tmp_path, BUILD_MACHINE)
    dockerd.ensure({"DOCKER_HOST": "tcp://127.0.0.1:2375"}, host)
    assert recorded() == ["docker info"]
    assert not host.daemon_json.exists()


@pytest.mark.parametrize(
    ("env", "other"),
    [
        ({}, None),
        ({"DOCKER_HOST": ""}, None),
        ({"DOCKER_HOST": "unix:///var/run/docker.sock"}, None),
        ({"DOCKER_HOST": "unix:///run/docker.sock"}, None),
        ({"DOCKER_HOST": "unix:///tmp/e/docker.sock"}, "unix:///tmp/e/docker.sock"),
    ],
)
def test_only_a_docker_host_off_the_local_sockets_is_another_engine(
    env: dict[str, str], other: str | None
) -> None:
    assert dockerd.other_engine(env) == other


def test_main_refuses_an_option_and_reports_a_failure_in_one_line(
    tmp_path: Path, fake: Fake, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert microshop(["dockerd", "--now"]) == 2
    assert capsys.readouterr().err == (
        "error: microshop dockerd: unrecognized arguments: --now (see microshop dockerd --help)\n"
    )
    fake("docker", DOCKER)
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    assert microshop(["dockerd"]) == 1
    assert capsys.readouterr().err == (
        "error: DOCKER_HOST=tcp://127.0.0.1:1 does not answer (docker info failed)\n"
    )
    (tmp_path / "up").touch()
    assert microshop(["dockerd"]) == 0


def test_no_docker_client_counts_as_no_answer(fake: Fake) -> None:
    assert dockerd.answers() is False


def test_a_log_file_that_cannot_be_written_is_a_clear_error(
    tmp_path: Path, fake: Fake, recorded: Recorded
) -> None:
    fake("docker", DOCKER)
    fake("dockerd", "exit 0")
    host = dockerd.Host(
        log_file=tmp_path / "no-such-dir" / "dockerd.log",
        daemon_json=tmp_path / "daemon.json",
        status=tmp_path / "status",
    )
    host.status.write_text(FULL_SET)
    with pytest.raises(dockerd.DockerdError) as caught:
        dockerd.ensure({}, host)
    assert str(caught.value).startswith(
        f"cannot start dockerd with its log at {host.log_file}: [Errno 2] No such file"
    )
    assert recorded() == ["docker info"]
