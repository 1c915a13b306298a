"""The OCI runtime wrapper drops exactly the capabilities the bounding set lacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from microshop_ci.bootstrap import docker_runtime, runtime_wrapper
from microshop_ci.bootstrap.runtime_wrapper import (
    files_to_fix,
    fix_file,
    missing_capabilities,
    strip_process,
)

BUILD_MACHINE = "Name:\tpython3\nCapBnd:\t000001fffeffffff\n"
FULL_SET = "Name:\tpython3\nCapBnd:\t000001ffffffffff\n"
ALL_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def _privileged_process() -> dict[str, object]:
    caps = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"]
    return {"args": ["/sbin/init"], "capabilities": {key: list(caps) for key in ALL_SETS}}


def test_missing_capabilities_names_sys_resource_on_the_build_machine() -> None:
    assert missing_capabilities(BUILD_MACHINE) == {"CAP_SYS_RESOURCE"}


def test_missing_capabilities_is_empty_where_the_bounding_set_is_full() -> None:
    assert missing_capabilities(FULL_SET) == set()


def test_strip_process_removes_the_capability_from_every_set() -> None:
    process = _privileged_process()
    assert strip_process(process, {"CAP_SYS_RESOURCE"}) is True
    caps = process["capabilities"]
    assert isinstance(caps, dict)
    assert {key: caps[key] for key in ALL_SETS} == {
        key: ["CAP_CHOWN", "CAP_SYS_ADMIN"] for key in ALL_SETS
    }


def test_strip_process_leaves_a_process_without_the_capability_alone() -> None:
    process: dict[str, object] = {"capabilities": {"bounding": ["CAP_CHOWN"]}}
    assert strip_process(process, {"CAP_SYS_RESOURCE"}) is False
    assert process == {"capabilities": {"bounding": ["CAP_CHOWN"]}}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--root", "/r", "create", "--bundle", "/b", "id"], [(Path("/b/config.json"), True)]),
        (["create", "--bundle=/b", "id"], [(Path("/b/config.json"), True)]),
        (["--log", "/l", "exec", "--process", "/p.json", "id"], [(Path("/p.json"), False)]),
        (["exec", "-p", "/p.json", "id"], [(Path("/p.json"), False)]),
        (["--root", "/r", "start", "id"], []),
        (["delete", "--force", "id"], []),
    ],
)
def test_files_to_fix_follows_the_runc_command(
    args: list[str], expected: list[tuple[Path, bool]]
) -> None:
    assert files_to_fix(args) == expected


def test_fix_file_rewrites_a_bundle_config(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"ociVersion": "1.0.2", "process": _privileged_process()}))
    fix_file(config, True, {"CAP_SYS_RESOURCE"})
    data = json.loads(config.read_text())
    assert data["ociVersion"] == "1.0.2"
    assert data["process"]["capabilities"]["permitted"] == ["CAP_CHOWN", "CAP_SYS_ADMIN"]


def test_fix_file_rewrites_an_exec_process_file(tmp_path: Path) -> None:
    process = tmp_path / "process.json"
    process.write_text(json.dumps(_privileged_process()))
    fix_file(process, False, {"CAP_SYS_RESOURCE"})
    assert json.loads(process.read_text())["capabilities"]["ambient"] == [
        "CAP_CHOWN",
        "CAP_SYS_ADMIN",
    ]


def test_docker_runtime_configures_dockerd_once_on_the_build_machine(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(BUILD_MACHINE)
    daemon = tmp_path / "daemon.json"
    daemon.write_text(json.dumps({"log-level": "warn"}))
    assert docker_runtime.needs_reload(daemon, tmp_path / "cache", status) is True
    config = json.loads(daemon.read_text())
    wrapper = Path(config["runtimes"]["microshop-runc"]["path"])
    assert config["default-runtime"] == "microshop-runc"
    assert config["log-level"] == "warn"
    assert wrapper.read_bytes() == docker_runtime.WRAPPER.read_bytes()
    assert wrapper.stat().st_mode & 0o111
    assert docker_runtime.configure(daemon, wrapper) is False  # a second run changes nothing
    assert docker_runtime.needs_reload(daemon, tmp_path / "cache", status) is False


def test_docker_runtime_does_nothing_where_no_capability_is_missing(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(FULL_SET)
    daemon = tmp_path / "daemon.json"
    assert docker_runtime.needs_reload(daemon, tmp_path / "cache", status) is False
    assert not daemon.exists()


def test_docker_runtime_refuses_a_broken_daemon_json(tmp_path: Path) -> None:
    daemon = tmp_path / "daemon.json"
    daemon.write_text("{not json")
    with pytest.raises(SystemExit, match=r"daemon.json is not valid JSON"):
        docker_runtime.configure(daemon, tmp_path / "wrapper")
    assert daemon.read_text() == "{not json"


def test_main_fixes_the_bundle_then_becomes_runc_with_the_same_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {"process": {"capabilities": {"bounding": ["CAP_CHOWN", "CAP_SYS_RESOURCE"]}}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    execs: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(runtime_wrapper.os, "execv", lambda path, argv: execs.append((path, argv)))
    args = ["--root", "/run/runc", "create", "--bundle", str(tmp_path), "c1"]
    runtime_wrapper.main(args)
    assert execs == [(runtime_wrapper.RUNC, [runtime_wrapper.RUNC, *args])]
    missing = runtime_wrapper.missing_capabilities(Path("/proc/self/status").read_text())
    expected = ["CAP_CHOWN"] if "CAP_SYS_RESOURCE" in missing else ["CAP_CHOWN", "CAP_SYS_RESOURCE"]
    bounding = json.loads((tmp_path / "config.json").read_text())["process"]["capabilities"]
    assert bounding == {"bounding": expected}


def test_a_status_without_a_bounding_set_drops_nothing() -> None:
    assert runtime_wrapper.missing_capabilities("Name:\tpython\nCapEff:\t0\n") == set()
    assert runtime_wrapper.strip_process({"args": ["sh"]}, {"CAP_SYS_RESOURCE"}) is False
