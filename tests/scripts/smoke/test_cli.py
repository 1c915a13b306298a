"""The smoke stage's own logic, without containers: images, hardening, failures and teardown."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from microshop_ci.cli import main as microshop
from microshop_ci.core import tools
from microshop_ci.core.tools import ToolError
from microshop_ci.smoke import cli, compose, flow
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
        code = microshop(
            ["smoke", "--images", str(path), "--json", str(out), "--repo", str(tmp_path)]
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 1
    message = f"{path}: api-service.ref is missing"
    assert capsys.readouterr().err == f"error: {message}\n"
    assert json.loads(out.read_text()) == {"headline": f"failed: {message}"}


class _Recorder:
    """Stands in for the stack and the scenario; records the order of the steps."""

    def __init__(self, stock_after: int, user: str = "65532:65532") -> None:
        self.steps: list[str] = []
        self.stock_after = stock_after
        self.user = user

    def install(self, monkeypatch: pytest.MonkeyPatch, shot: Path) -> None:
        steps = self.steps

        def hardening(stack: Stack) -> dict[str, dict[str, object]]:
            steps.append("hardening")
            return {"api-service": {"user": self.user, "read_only": True, "image": "i"}}

        def create_admin(stack: Stack, email: str) -> str:
            steps.append(f"admin {email[:12]}")
            return "pw"

        def seed_product(email: str, password: str) -> str:
            steps.append(f"seed {password}")
            return "p-1"

        def order(product_id: str, screenshot: Path) -> flow.Order:
            steps.append(f"order {product_id} {screenshot.name}")
            return flow.Order(product_id, "u@example.com", "Order placed", self.stock_after, shot)

        monkeypatch.setattr(Stack, "up", lambda stack: steps.append("up"))
        monkeypatch.setattr(Stack, "down", lambda stack: steps.append("down"))
        monkeypatch.setattr(Stack, "hardening", hardening)
        monkeypatch.setattr(Stack, "create_admin", create_admin)
        monkeypatch.setattr(cli, "wait_for_api", lambda: steps.append("ready"))
        monkeypatch.setattr(cli, "seed_product", seed_product)
        monkeypatch.setattr(cli, "order_in_browser", order)


def test_a_smoke_run_orders_and_tears_down_and_main_writes_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = _Recorder(stock_after=3)
    recorder.install(monkeypatch, tmp_path / "shot.png")
    out = tmp_path / "out" / "smoke.json"
    previous = signal.getsignal(signal.SIGTERM)
    try:
        code = microshop(
            [
                "smoke",
                "--images",
                str(_images(tmp_path, IMAGES)),
                "--json",
                str(out),
                "--repo",
                str(tmp_path),
            ]
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert code == 0
    assert recorder.steps == [
        "up",
        "ready",
        "hardening",
        "admin smoke-admin-",
        "seed pw",
        "order p-1 smoke-my-orders.png",
        "down",
    ]
    headline = (
        "order placed in Chromium: Order placed; stock 5 -> 3; containers user 65532, read-only"
    )
    assert capsys.readouterr().out == headline + "\n"
    assert json.loads(out.read_text()) == {
        "headline": headline,
        "containers": {"api-service": {"user": "65532:65532", "read_only": True, "image": "i"}},
        "product_id": "p-1",
        "screenshot": str(tmp_path / "shot.png"),
    }


def test_a_wrong_stock_after_ordering_fails_and_still_tears_down(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = _Recorder(stock_after=5)
    recorder.install(monkeypatch, tmp_path / "shot.png")
    with pytest.raises(SmokeError, match=r"^stock is 5 after ordering, not 3$"):
        cli.run(tmp_path, _images(tmp_path, IMAGES), tmp_path / "out")
    assert recorder.steps[-1] == "down"


def test_a_root_container_stops_the_run_before_any_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = _Recorder(stock_after=3, user="0")
    recorder.install(monkeypatch, tmp_path / "shot.png")
    with pytest.raises(SmokeError, match=r"^api-service runs as user '0', not 65532$"):
        cli.run(tmp_path, _images(tmp_path, IMAGES), tmp_path / "out")
    assert recorder.steps == ["up", "ready", "hardening", "down"]


def test_sigterm_becomes_a_smoke_error_so_the_stack_is_torn_down() -> None:
    with pytest.raises(SmokeError, match=r"^stopped by signal 15$"):
        cli._stop(signal.SIGTERM, None)
