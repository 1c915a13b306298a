"""The smoke stage's own logic, without containers: images, hardening, failures and teardown."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from microshop_ci.core import tools
from microshop_ci.core.tools import ToolError
from microshop_ci.smoke import cli, compose
from microshop_ci.smoke.stack import SmokeError, Stack

DIGEST = "sha256:" + "e" * 64
IMAGES = {
    "api-service": {"ref": f"127.0.0.1:5000/api-service@{DIGEST}"},
    "client-service": {"ref": f"127.0.0.1:5000/client-service@{DIGEST}"},
}


def _images(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "images.json"
    path.write_text(json.dumps(data))
    return path


def test_the_images_of_both_services_are_read_by_digest(tmp_path: Path) -> None:
    assert cli.load_images(_images(tmp_path, IMAGES)) == {
        "api-service": f"127.0.0.1:5000/api-service@{DIGEST}",
        "client-service": f"127.0.0.1:5000/client-service@{DIGEST}",
    }


def test_an_images_file_without_the_storefront_is_a_smoke_error(tmp_path: Path) -> None:
    path = _images(tmp_path, {"api-service": IMAGES["api-service"]})
    with pytest.raises(SmokeError) as caught:
        cli.load_images(path)
    assert str(caught.value) == f"{path}: client-service.ref is missing"


@pytest.mark.parametrize(
    ("seen", "message"),
    [
        (
            {"api-service": {"user": "0", "read_only": True}},
            "api-service runs as user '0', not 65532",
        ),
        (
            {"client-service": {"user": "65532:65532", "read_only": False}},
            "client-service does not have a read-only root filesystem",
        ),
    ],
)
def test_a_container_that_is_not_hardened_fails_the_smoke_run(
    seen: dict[str, dict[str, object]], message: str
) -> None:
    with pytest.raises(SmokeError, match=f"^{message}$"):
        cli.check_hardening(seen)


def test_hardened_containers_pass() -> None:
    cli.check_hardening({"api-service": {"user": "65532:65532", "read_only": True}})


def test_a_stack_that_does_not_start_is_named_and_torn_down_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def failing_up(*args: object, **kwargs: object) -> None:
        calls.append(f"up overrides={kwargs['overrides']}")
        raise ToolError("docker run failed: no such image")

    def failing_down(paths: compose.Paths) -> None:
        calls.append(f"down {paths.repo}")
        raise ToolError("docker is gone")

    monkeypatch.setattr(compose, "up", failing_up)
    monkeypatch.setattr(compose, "down", failing_down)
    monkeypatch.setenv("MICROSHOP_TOOL_FERRETDB", "/opt/ferretdb")
    tools.pinned_tool.cache_clear()
    stack = Stack(tmp_path, tmp_path / "images.json", {})
    with pytest.raises(SmokeError, match=r"^compose-local up failed: docker run failed: no such"):
        stack.up()
    stack.down()  # a teardown never raises
    tools.pinned_tool.cache_clear()
    assert calls == ["up overrides={'COOKIE_SECURE': 'false'}", f"down {tmp_path}"]


def test_main_reports_a_bad_images_file_in_one_line_and_in_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previous = signal.getsignal(signal.SIGTERM)
    path = _images(tmp_path, {})
    out = tmp_path / "smoke.json"
    try:
        code = cli.main(["--images", str(path), "--json", str(out), "--repo", str(tmp_path)])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 1
    message = f"{path}: api-service.ref is missing"
    assert capsys.readouterr().err == f"smoke: {message}\n"
    assert json.loads(out.read_text()) == {"headline": f"failed: {message}"}
