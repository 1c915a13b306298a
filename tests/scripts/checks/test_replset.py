"""scripts/mongodb-replset: the docker commands, the bounded waits, the URI handed to later steps.

No MongoDB image can be pulled here, so docker is RecordedDocker, a stand-in that records each
call and answers mongosh with scripted lines; the set itself starts in the pull request
workflow's `checks` job, whose MongoDB tests (tests/services/api_service/test_transactions.py)
fail if it is not a replica set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from microshop_ci import cli
from microshop_ci.checks import replset
from microshop_ci.checks.replset import IMAGE, NAME, ReplicaSet, ReplicaSetError, act


@dataclass
class RecordedDocker:
    """Stand-in for core.tools.docker: records argv; mongosh evals answer from `answers`."""

    answers: dict[str, list[str]] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def __call__(self, *args: str, check: bool = True) -> str:
        self.calls.append(args)
        if args[0] == "exec":
            script = args[-1]
            queue = next(q for key, q in self.answers.items() if script.startswith(key))
            return queue.pop(0) if len(queue) > 1 else queue[0]
        return "mongod log line" if args[0] == "logs" else ""


class Clock:
    """A clock each sleep moves on by the seconds slept."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def replica_set(docker: RecordedDocker) -> ReplicaSet:
    clock = Clock()
    return ReplicaSet(port=27017, run=docker, clock=clock, sleep=clock.sleep)


def healthy() -> RecordedDocker:
    return RecordedDocker(
        {
            "db.adminCommand": ["", "MongoNetworkError: connect ECONNREFUSED", "1"],
            "rs.initiate": ["1"],
            "db.hello": ["false", "false", "true"],
        }
    )


def test_up_runs_the_pinned_image_as_a_set_initiates_it_and_waits_for_the_primary() -> None:
    docker = healthy()
    assert replica_set(docker).up() == "mongodb://127.0.0.1:27017/?replicaSet=rs0"
    evals = [call[-1] for call in docker.calls if call[0] == "exec"]
    assert docker.calls[:2] == [
        ("rm", "--force", "--volumes", NAME),
        ("run", "--detach", "--name", NAME, "--publish", "127.0.0.1:27017:27017", IMAGE,
         "--replSet", "rs0", "--port", "27017", "--bind_ip_all"),
    ]  # fmt: skip
    assert evals == [
        *["db.adminCommand({ping: 1}).ok"] * 3,
        "rs.initiate({_id: 'rs0', members: [{_id: 0, host: '127.0.0.1:27017'}]}).ok",
        *["db.hello().isWritablePrimary"] * 3,
    ]
    assert docker.calls[2][:6] == ("exec", NAME, "mongosh", "--quiet", "--port", "27017")


def test_the_image_is_the_one_pinned_by_digest() -> None:
    assert re.fullmatch(r"docker\.io/library/mongo:7\.0\.39@sha256:[0-9a-f]{64}", IMAGE)


def test_a_server_that_never_answers_fails_after_the_bound_with_its_log() -> None:
    docker = RecordedDocker({"db.adminCommand": ["MongoNetworkError: connect ECONNREFUSED"]})
    with pytest.raises(ReplicaSetError) as raised:
        replica_set(docker).up()
    assert str(raised.value) == (
        f"{NAME}: mongod answering not within 90 s (last answer"
        " 'MongoNetworkError: connect ECONNREFUSED'); its log ends: mongod log line"
    )
    pings = [call for call in docker.calls if call[0] == "exec"]
    assert (len(pings), docker.calls[-1]) == (91, ("logs", "--tail", "20", NAME))


def test_a_refused_initiate_stops_before_waiting_for_a_primary() -> None:
    docker = RecordedDocker({"db.adminCommand": ["1"], "rs.initiate": ["MongoServerError: x"]})
    with pytest.raises(ReplicaSetError, match=r"rs.initiate answered 'MongoServerError: x', not 1"):
        replica_set(docker).up()
    assert [call[-1][:7] for call in docker.calls if call[0] == "exec"] == ["db.admi", "rs.init"]


def test_up_prints_the_uri_and_hands_it_to_the_later_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env_file = tmp_path / "github-env"
    env_file.write_text("EARLIER=1\n")
    monkeypatch.setenv("GITHUB_ENV", str(env_file))
    assert act("up", replica_set(healthy())) == 0
    assert capsys.readouterr().out == "mongodb://127.0.0.1:27017/?replicaSet=rs0\n"
    assert env_file.read_text() == (
        "EARLIER=1\nMICROSHOP_TEST_MONGODB_URI=mongodb://127.0.0.1:27017/?replicaSet=rs0\n"
    )


def test_a_failure_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    docker = RecordedDocker({"db.adminCommand": ["1"], "rs.initiate": ["0"]})
    with pytest.raises(ReplicaSetError) as raised:
        act("up", replica_set(docker))
    assert (str(raised.value), raised.value.exit_code) == (
        f"{NAME}: rs.initiate answered '0', not 1", 1)  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        ([], "the following arguments are required: action"),
        (["start"], "argument action: invalid choice: 'start' (choose from 'up', 'down')"),
        (["up", "now"], "unrecognized arguments: now"),
    ],
)
def test_the_command_refuses_anything_but_up_or_down(
    argv: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["mongodb-replset", *argv]) == 2
    assert capsys.readouterr().err == (
        f"error: microshop mongodb-replset: {problem} (see microshop mongodb-replset --help)\n"
    )


def test_down_removes_the_container() -> None:
    docker = RecordedDocker()
    assert act("down", replica_set(docker)) == 0
    assert docker.calls == [("rm", "--force", "--volumes", NAME)]


def test_the_default_runner_is_the_pipelines_docker() -> None:
    assert ReplicaSet().run is replset.docker
