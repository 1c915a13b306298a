"""compose-local without Docker: secrets, environment, FerretDB, up, down and the CLI."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from microshop_ci.build import images as build_images
from microshop_ci.cli import main as microshop
from microshop_ci.core.tools import ToolError
from microshop_ci.smoke import compose
from tests.conftest import REPO_ROOT
from tests.scripts.smoke.fakes import FakeDocker

DIGEST = "sha256:" + "c" * 64
IMAGES = {
    "api-service": f"127.0.0.1:5000/api-service@{DIGEST}",
    "client-service": f"127.0.0.1:5000/client-service@{DIGEST}",
}
HEALTHY = json.dumps({"Running": True, "Health": {"Status": "healthy"}})


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository folder holding the real compose.yaml."""
    (tmp_path / "compose.yaml").write_text((REPO_ROOT / "compose.yaml").read_text())
    return tmp_path


@pytest.fixture
def fake_ferretdb(tmp_path: Path) -> str:
    """A program that stays up like FerretDB and records its arguments."""
    path = tmp_path / "ferretdb"
    path.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/ferretdb.args\nexec sleep 60\n')
    path.chmod(0o755)
    return str(path)


def _wait_for(path: Path, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    pytest.fail(f"{path} was not written within {timeout} s")


def test_secrets_are_written_once_and_readable_by_their_owner_only(tmp_path: Path) -> None:
    paths = compose.Paths(tmp_path)
    paths.secrets.mkdir(parents=True)
    (paths.secrets / "session_secret").write_text("kept")
    compose.write_secrets(paths)
    assert sorted(p.name for p in paths.secrets.iterdir()) == [
        "jwt_private_key.pem",
        "mongo_root_password",
        "session_secret",
    ]
    assert (paths.secrets / "session_secret").read_text() == "kept"
    assert (
        (paths.secrets / "jwt_private_key.pem")
        .read_text()
        .startswith("-----BEGIN PRIVATE KEY-----\n")
    )
    assert stat.S_IMODE(paths.secrets.stat().st_mode) == 0o700
    for path in paths.secrets.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o400
    if os.geteuid() == 0:
        owners = {p.name: p.stat().st_uid for p in paths.secrets.iterdir()}
        assert owners == {
            "jwt_private_key.pem": 65532,
            "mongo_root_password": 999,
            "session_secret": 65532,
        }
    first = (paths.secrets / "jwt_private_key.pem").read_bytes()
    compose.write_secrets(paths)  # a second run keeps every file
    assert (paths.secrets / "jwt_private_key.pem").read_bytes() == first


def test_environment_resolves_compose_variables_like_compose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = {
        "environment": {
            "LITERAL": "x",
            "PORT": 8080,
            "WITH_DEFAULT": "${COOKIE_SECURE:-true}",
            "REQUIRED": "${MICROSHOP_TEST_REQUIRED:?set it}",
            "OVERRIDDEN": "${MONGODB_URI:?set it}",
        }
    }
    monkeypatch.delenv("COOKIE_SECURE", raising=False)
    monkeypatch.delenv("MICROSHOP_TEST_REQUIRED", raising=False)
    assert compose.environment(spec, {"OVERRIDDEN": "mongodb://10.0.0.1:27017/"}) == [
        "-e",
        "LITERAL=x",
        "-e",
        "PORT=8080",
        "-e",
        "WITH_DEFAULT=true",
        "-e",
        "REQUIRED=",
        "-e",
        "OVERRIDDEN=mongodb://10.0.0.1:27017/",
    ]
    monkeypatch.setenv("COOKIE_SECURE", "false")
    monkeypatch.setenv("MICROSHOP_TEST_REQUIRED", "given")
    assert compose.environment(spec, {})[5:8] == ["WITH_DEFAULT=false", "-e", "REQUIRED=given"]


def test_the_storefront_runs_with_compose_yaml_flags(repo: Path) -> None:
    spec_file = yaml.safe_load((repo / "compose.yaml").read_text())
    args = compose.run_args(
        "client-service", spec_file["services"]["client-service"], spec_file, compose.Paths(repo)
    )
    assert args == [
        "--name",
        "microshop-client-service",
        "--network",
        "microshop-local",
        "--network-alias",
        "client-service",
        "-d",
        "--read-only",
        "--user",
        "65532:65532",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges:true",
        "--tmpfs=/tmp:rw,noexec,nosuid,size=16m",
        "-v",
        f"{repo}/.local/secrets/session_secret:/run/secrets/session_secret:ro",
        "-p",
        "127.0.0.1:8080:8080",
    ]


def test_wait_healthy_returns_once_docker_reports_healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    states = iter(
        [json.dumps({"Running": True, "Health": {"Status": "starting"}}), HEALTHY, "unused"]
    )
    fake = FakeDocker({("inspect",): lambda args: next(states)})
    monkeypatch.setattr(compose, "docker", fake)
    monkeypatch.setattr(compose.time, "sleep", lambda seconds: None)
    compose.wait_healthy("microshop-api-service")
    assert fake.calls == [("inspect", "-f", "{{json .State}}", "microshop-api-service")] * 2


def test_wait_healthy_names_a_container_that_exited_with_its_log(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeDocker(
        {("inspect",): json.dumps({"Running": False}), ("logs",): "MONGODB_URI is not set"}
    )
    monkeypatch.setattr(compose, "docker", fake)
    with pytest.raises(ToolError) as caught:
        compose.wait_healthy("microshop-api-service")
    assert str(caught.value) == "microshop-api-service exited: MONGODB_URI is not set"


def test_wait_healthy_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDocker({("inspect",): json.dumps({"Running": True})})
    monkeypatch.setattr(compose, "docker", fake)
    with pytest.raises(ToolError, match=r"^microshop-api-service is not healthy after 0 s$"):
        compose.wait_healthy("microshop-api-service", timeout=0)
    assert fake.calls == []


def test_up_starts_ferretdb_and_both_services_and_down_removes_them(
    repo: Path, fake_ferretdb: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDocker(
        {
            ("network", "ls"): "",
            ("network", "inspect"): "172.30.0.1",
            ("inspect",): HEALTHY,
        }
    )
    monkeypatch.setattr(compose, "docker", fake)
    paths = compose.Paths(repo)
    compose.up(paths, IMAGES, fake_ferretdb, overrides={"COOKIE_SECURE": "false"})
    pid = int((paths.state / "ferretdb.pid").read_text())
    try:
        args = _wait_for(repo / "ferretdb.args").split()
        assert args == [
            "--handler=sqlite",
            f"--sqlite-url=file:{paths.state}/ferretdb/",
            f"--state-dir={paths.state}",
            "--telemetry=disable",
            "--debug-addr=-",
            "--listen-addr=172.30.0.1:27017",
            "--log-level=warn",
        ]
        runs = [call for call in fake.calls if call[0] == "run"]
        assert [call[-1] for call in runs] == [IMAGES["api-service"], IMAGES["client-service"]]
        assert "MONGODB_URI=mongodb://172.30.0.1:27017/" in runs[0]
        assert "COOKIE_SECURE=false" in runs[1]
        assert fake.calls[:3] == [
            ("network", "ls", "-q", "-f", "name=^microshop-local$"),
            ("network", "create", "microshop-local"),
            ("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "microshop-local"),
        ]
        # A second up finds FerretDB running and the network there: neither is started again.
        fake.answers[("network", "ls")] = "0123abcd"
        fake.calls.clear()
        compose.up(paths, IMAGES, fake_ferretdb)
        assert ("network", "create", "microshop-local") not in fake.calls
        assert int((paths.state / "ferretdb.pid").read_text()) == pid
    finally:
        fake.calls.clear()
        compose.down(paths)
    assert fake.calls == [
        ("rm", "-f", "microshop-api-service"),
        ("rm", "-f", "microshop-client-service"),
        ("network", "rm", "microshop-local"),
    ]
    assert not (paths.state / "ferretdb.pid").exists()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    """True while pid runs (a zombie waiting for its parent counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    if status.split(")")[-1].split()[0] == "Z":
        os.waitpid(pid, os.WNOHANG)
        return False
    return True


def test_down_without_anything_running_is_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDocker({("network", "rm"): ToolError("no such network")})
    monkeypatch.setattr(compose, "docker", fake)
    compose.down(compose.Paths(tmp_path))
    assert fake.calls[-1] == ("network", "rm", "microshop-local")


def test_cli_up_without_an_images_file_builds_and_pushes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Any]] = []
    images = tmp_path / "images.json"

    def build(options: build_images.Options, env: object) -> None:
        calls.append(("build-images", options))
        images.write_text(json.dumps({name: {"ref": ref} for name, ref in IMAGES.items()}))

    monkeypatch.setattr(compose.dockerd, "ensure", lambda env: calls.append(("dockerd", "ensure")))
    monkeypatch.setattr(compose.registry, "up", lambda addr, data: calls.append(("registry", addr)))
    monkeypatch.setattr(compose.registry, "address", lambda: "127.0.0.1:5000")
    monkeypatch.setattr(compose.build_images, "build_all", build)
    monkeypatch.setattr(compose, "up", lambda *args: calls.append(("up", args)))
    argv = ["up", "--images", str(images), "--ferretdb", "/opt/ferretdb", "--repo", str(tmp_path)]
    assert microshop(["compose", *argv]) == 0
    assert calls == [
        ("dockerd", "ensure"),
        ("registry", "127.0.0.1:5000"),
        ("build-images", build_images.Options(compose.SERVICES, push=True, out=images)),
        ("up", (compose.Paths(tmp_path.resolve()), IMAGES, "/opt/ferretdb")),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", ": not JSON (Expecting property name"),
        (json.dumps({"api-service": {"ref": "x"}}), "client-service"),
    ],
)
def test_cli_reports_a_bad_images_file_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str,
    message: str,
) -> None:
    monkeypatch.setattr(compose.dockerd, "ensure", lambda env: None)
    images = tmp_path / "images.json"
    images.write_text(content)
    argv = ["up", "--images", str(images), "--ferretdb", "/x", "--repo", str(tmp_path)]
    assert microshop(["compose", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {images}")
    assert message in err
    assert err.count("\n") == 1


def test_cli_up_and_down_call_the_stack_with_the_images_refs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, Any]] = []
    monkeypatch.setattr(compose.dockerd, "ensure", lambda env: None)
    monkeypatch.setattr(compose, "up", lambda *args: calls.append(("up", args)))
    monkeypatch.setattr(compose, "down", lambda paths: calls.append(("down", paths)))
    images = tmp_path / "images.json"
    images.write_text(json.dumps({name: {"ref": ref} for name, ref in IMAGES.items()}))
    argv = ["up", "--images", str(images), "--ferretdb", "/opt/ferretdb", "--repo", str(tmp_path)]
    assert microshop(["compose", *argv]) == 0
    assert microshop(["compose", "down", "--repo", str(tmp_path)]) == 0
    paths = compose.Paths(tmp_path.resolve())
    assert calls == [("up", (paths, IMAGES, "/opt/ferretdb")), ("down", paths)]


def test_cli_turns_a_docker_failure_into_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing_down(paths: compose.Paths) -> None:
        raise ToolError("docker rm failed: Cannot connect to the Docker daemon")

    monkeypatch.setattr(compose, "down", failing_down)
    assert microshop(["compose", "down", "--repo", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        "error: docker rm failed: Cannot connect to the Docker daemon\n"
    )
