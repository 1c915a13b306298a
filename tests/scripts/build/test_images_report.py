"""The images file's `image_id` is the normalized config digest, whatever Docker's image store.

On the classic store `docker image inspect` reports the config digest as the image's Id; on the
containerd store (Docker 29's default on fresh installs, as on GitHub's runners) it reports the
manifest digest. The images file records the config digest that normalize_image.py computed, so
two builds compare the same way on either engine; the engine's Id is kept as `engine_image_id`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from microshop_ci.build import images_report
from microshop_ci.cli import main as microshop

CONFIG = "sha256:" + "c" * 64
MANIFEST = "sha256:" + "d" * 64
PUSHED = "sha256:" + "e" * 64
REF = f"127.0.0.1:5000/api-service@{PUSHED}"


def inspect_as(engine_id: str) -> Any:
    def fake(local_tag: str) -> dict[str, Any]:
        assert local_tag == "api-service:git-1"
        return {"Id": engine_id, "Size": 93604622, "Config": {"User": "65532:65532"}}

    return fake


@pytest.mark.parametrize(
    ("store", "engine_id"), [("classic", CONFIG), ("containerd", MANIFEST)]
)  # fmt: skip
def test_image_id_is_the_config_digest_on_either_image_store(
    monkeypatch: pytest.MonkeyPatch, store: str, engine_id: str
) -> None:
    monkeypatch.setattr(images_report, "_inspect", inspect_as(engine_id))
    got = images_report.entry(REF, "api-service:git-1", CONFIG, "abc", "base", "builder")
    assert got["image_id"] == CONFIG, store
    assert got["engine_image_id"] == engine_id
    assert (got["digest"], got["name"], got["size"], got["user"]) == (
        PUSHED, "127.0.0.1:5000/api-service", 93604622, "65532:65532"
    )  # fmt: skip


def test_cli_writes_the_file_and_refuses_a_record_without_config_digest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(images_report, "_inspect", inspect_as(MANIFEST))
    out = tmp_path / "images.json"
    common = ["--out", str(out), "--revision", "abc", "--base", "b", "--builder", "c"]
    assert (
        microshop(["images-report", *common, f"api-service={REF}=api-service:git-1={CONFIG}"]) == 0
    )
    assert json.loads(out.read_text())["api-service"]["image_id"] == CONFIG
    assert microshop(["images-report", *common, f"api-service={REF}=api-service:git-1"]) == 2
    assert capsys.readouterr().err == (
        f"error: 'api-service={REF}=api-service:git-1' is not"
        " SERVICE=NAME@DIGEST=LOCAL_TAG=CONFIG_DIGEST\n"
    )
    assert (
        microshop(["images-report", *common, f"api-service={REF}=api-service:git-1=sha256:XYZ"])
        == 2
    )
    assert capsys.readouterr().err == (
        "error: 'sha256:XYZ' is not a config digest (sha256:<64 hex>)\n"
    )
