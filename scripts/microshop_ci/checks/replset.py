"""A single-node MongoDB replica set in Docker, for the tests that need transactions.

GitHub's service containers cannot be given `--replSet`, so the pull request workflow's `checks`
job calls `scripts/mongodb-replset up` instead:

    up    run the pinned MongoDB image (IMAGE) as mongod --replSet rs0 on 127.0.0.1:PORT, wait
          (bounded) until it answers, `rs.initiate` it through mongosh inside the container, wait
          (bounded) until it is primary, and print its URI,
          mongodb://127.0.0.1:PORT/?replicaSet=rs0. With GITHUB_ENV set, the URI is also written
          there as MICROSHOP_TEST_MONGODB_URI for the job's later steps.
    down  remove the container.

The member's address is 127.0.0.1:PORT inside the container and out (mongod listens on PORT in
the container, published on the host's loopback at the same port), so the driver reaches the
member by the name the set gives it.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.tools import docker

# MongoDB 7.0 (7.0.39): multi-arch index digest as published in docker-library/repo-info
# (repos/mongo/remote/7.0.md). Dependabot does not see it: bump by hand.
IMAGE = (
    "docker.io/library/mongo:7.0.39"
    "@sha256:35a5926f71f8b6cb19206bee928c5a85f241a8be99f20c81abe35ae78a73415d"
)
NAME = "microshop-mongodb-replset"
SET = "rs0"
PORT = 27017
WAIT_SECONDS, POLL_SECONDS = 90.0, 1.0

Docker = Callable[..., str]


class ReplicaSetError(MicroshopError):
    """The replica set did not start or become primary in time; the message says which."""


def uri(port: int = PORT) -> str:
    """The connection string of the set (the driver finds the primary by the set's name)."""
    return f"mongodb://127.0.0.1:{port}/?replicaSet={SET}"


def initiate_script(port: int) -> str:
    """mongosh's rs.initiate of a one-member set whose member is 127.0.0.1:PORT."""
    return f"rs.initiate({{_id: '{SET}', members: [{{_id: 0, host: '127.0.0.1:{port}'}}]}}).ok"


@dataclass
class ReplicaSet:
    """The container: started, initiated and waited for through `docker` (core.tools.docker)."""

    port: int = PORT
    run: Docker = docker
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    log: list[str] = field(default_factory=list)

    def shell(self, script: str) -> str:
        """Evaluate a mongosh script in the container; its last line of output."""
        out = self.run(
            "exec", NAME, "mongosh", "--quiet", "--port", str(self.port), "--eval", script,
            check=False,
        )  # fmt: skip
        return out.strip().splitlines()[-1] if out.strip() else ""

    def wait(self, script: str, expected: str, what: str) -> None:
        """Poll a mongosh script until it prints expected; ReplicaSetError after WAIT_SECONDS."""
        deadline = self.clock() + WAIT_SECONDS
        while (answer := self.shell(script)) != expected:
            if self.clock() >= deadline:
                logs = self.run("logs", "--tail", "20", NAME, check=False)
                raise ReplicaSetError(
                    f"{NAME}: {what} not within {WAIT_SECONDS:.0f} s (last answer {answer!r});"
                    f" its log ends: {logs[-1500:]}"
                )
            self.sleep(POLL_SECONDS)

    def up(self) -> str:
        """Start the set afresh and return its URI once it is primary."""
        self.down()
        self.run(
            "run", "--detach", "--name", NAME, "--publish", f"127.0.0.1:{self.port}:{self.port}",
            IMAGE, "--replSet", SET, "--port", str(self.port), "--bind_ip_all",
        )  # fmt: skip
        self.wait("db.adminCommand({ping: 1}).ok", "1", "mongod answering")
        initiated = self.shell(initiate_script(self.port))
        if initiated != "1":
            raise ReplicaSetError(f"{NAME}: rs.initiate answered {initiated!r}, not 1")
        self.wait("db.hello().isWritablePrimary", "true", "the member primary")
        return uri(self.port)

    def down(self) -> None:
        """Remove the container if there is one."""
        self.run("rm", "--force", "--volumes", NAME, check=False)


def export(value: str, env_file: str | None) -> None:
    """Hand the URI to the job's later steps (GitHub's GITHUB_ENV file), when there is one."""
    if env_file:
        with Path(env_file).open("a", encoding="utf-8") as out:
            out.write(f"MICROSHOP_TEST_MONGODB_URI={value}\n")


def configure(parser: argparse.ArgumentParser) -> None:
    """up | down."""
    parser.add_argument("action", choices=("up", "down"))


def act(action: str, replica_set: ReplicaSet) -> int:
    """Bring the replica set up (print its URI, hand it to GITHUB_ENV) or remove it."""
    if action == "up":
        value = replica_set.up()
        export(value, os.environ.get("GITHUB_ENV"))
        print(value)
    else:
        replica_set.down()
    return 0


def run_command(args: argparse.Namespace) -> int:
    """`microshop mongodb-replset up|down`."""
    return act(args.action, ReplicaSet())
