"""The smoke stack's look inside the containers and its admin bootstrap, with docker stood in."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from microshop_ci.smoke import stack
from microshop_ci.smoke.stack import SmokeError, Stack
from tests.scripts.smoke.fakes import FakeDocker

DIGEST = "sha256:" + "d" * 64
API_REF = f"127.0.0.1:5000/api-service@{DIGEST}"


def _inspect(user: str, read_only: bool, image: str) -> str:
    return json.dumps(
        [{"Config": {"User": user, "Image": image}, "HostConfig": {"ReadonlyRootfs": read_only}}]
    )


def test_hardening_reads_user_root_filesystem_and_image_of_both_containers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDocker(
        {
            ("inspect", "microshop-api-service"): _inspect("65532:65532", True, API_REF),
            ("inspect", "microshop-client-service"): _inspect("0", False, "client"),
        }
    )
    monkeypatch.setattr(stack, "docker", fake)
    seen = Stack(tmp_path, tmp_path / "images.json", {}).hardening()
    assert seen == {
        "api-service": {"user": "65532:65532", "read_only": True, "image": API_REF},
        "client-service": {"user": "0", "read_only": False, "image": "client"},
    }


def _api_container(tmp_path: Path) -> str:
    return json.dumps(
        [
            {
                "Config": {
                    "Env": [
                        "MONGODB_URI=mongodb://172.30.0.1:27017/",
                        "MONGODB_DATABASE=microshop",
                        "JWT_PRIVATE_KEY_FILE=/run/secrets/jwt_private_key",
                        "LOG_LEVEL=INFO",
                        "PATH=/usr/bin",
                    ]
                },
                "Mounts": [
                    {
                        "Type": "bind",
                        "Source": f"{tmp_path}/jwt.pem",
                        "Destination": "/run/secrets/jwt_private_key",
                    },
                    {"Type": "tmpfs", "Source": "", "Destination": "/run/cache"},
                ],
            }
        ]
    )


def test_the_admin_is_created_by_the_images_own_cli_in_a_hardened_one_shot_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDocker(
        {
            ("inspect", "microshop-api-service"): _api_container(tmp_path),
            ("run",): "admin@example.com: created",
        }
    )
    monkeypatch.setattr(stack, "docker", fake)
    monkeypatch.setenv("MICROSHOP_RUN_LABEL", "microshop.run=r1")
    password = Stack(tmp_path, tmp_path / "images.json", {"api-service": API_REF}).create_admin(
        "admin@example.com"
    )
    password_file = tmp_path / ".local" / "smoke" / "admin_password"
    assert password_file.read_text() == password
    assert len(password) == 32
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o400
    if os.geteuid() == 0:
        assert password_file.stat().st_uid == 65532
    assert fake.calls[-1] == (
        "run",
        "--rm",
        "--network",
        "microshop-local",
        "--read-only",
        "--user",
        "65532",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges:true",
        "--label",
        "microshop.run=r1",
        "-e",
        "MONGODB_URI=mongodb://172.30.0.1:27017/",
        "-e",
        "MONGODB_DATABASE=microshop",
        "-e",
        "JWT_PRIVATE_KEY_FILE=/run/secrets/jwt_private_key",
        "-v",
        f"{tmp_path}/jwt.pem:/run/secrets/jwt_private_key:ro",
        "-v",
        f"{password_file}:/run/secrets/admin_password:ro",
        "--entrypoint",
        "python3",
        API_REF,
        "-m",
        "api_service.cli",
        "create-admin",
        "--email",
        "admin@example.com",
        "--password-file",
        "/run/secrets/admin_password",
    )


def test_an_admin_bootstrap_that_does_not_say_created_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeDocker(
        {
            ("inspect", "microshop-api-service"): _api_container(tmp_path),
            ("run",): "admin@example.com: exists",
        }
    )
    monkeypatch.setattr(stack, "docker", fake)
    monkeypatch.delenv("MICROSHOP_RUN_LABEL", raising=False)
    with pytest.raises(SmokeError) as caught:
        Stack(tmp_path, tmp_path / "i.json", {"api-service": API_REF}).create_admin(
            "admin@example.com"
        )
    assert str(caught.value) == (
        "create-admin did not create admin@example.com: 'admin@example.com: exists'"
    )
    assert "--label" not in fake.calls[-1]
