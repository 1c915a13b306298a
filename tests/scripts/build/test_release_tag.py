"""The version tag: added by digest after verification, never moved to another digest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from microshop_ci.cli import main as microshop
from tests.conftest import REPO_ROOT

API = "ghcr.io/o/api-service"
CLIENT = "ghcr.io/o/client-service"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_C = "sha256:" + "c" * 64
OTHER = "sha256:" + "f" * 64
# A crane stand-in over a JSON registry {repository: {tag: digest}}: ls, digest, tag; every call
# is logged.
FAKE_CRANE = """#!PYTHON
import json, sys
state_file, log = sys.argv[0] + ".json", sys.argv[0] + ".calls"
with open(log, "a") as fh:
    fh.write(" ".join(sys.argv[1:]) + "\\n")
repos = json.load(open(state_file))
command, ref = sys.argv[1], sys.argv[2]
if command == "ls":
    print("\\n".join(repos[ref]))
elif command == "digest":
    name, tag = ref.rsplit(":", 1)
    if tag not in repos[name]:
        sys.exit("MANIFEST_UNKNOWN")
    print(repos[name][tag])
elif command == "tag":
    name, digest = ref.split("@")
    repos[name][sys.argv[3]] = digest
    json.dump(repos, open(state_file, "w"))
"""


def registry(tmp_path: Path, repos: dict[str, dict[str, str]]) -> tuple[Path, Path]:
    crane = tmp_path / "crane"
    crane.write_text(FAKE_CRANE.replace("PYTHON", sys.executable))
    crane.chmod(0o755)
    crane.with_name("crane.json").write_text(json.dumps(repos))
    return crane, crane.with_name("crane.calls")


def images_file(tmp_path: Path) -> Path:
    path = tmp_path / "images.json"
    path.write_text(
        json.dumps(
            {
                "api-service": {"ref": f"{API}@{DIGEST_A}"},
                "client-service": {"ref": f"{CLIENT}@{DIGEST_C}"},
            }
        )
    )
    return path


def tag(tmp_path: Path, crane: Path, version: str = "v1.2.3") -> int:
    return microshop(
        [
            "tag-release",
            "--images",
            str(images_file(tmp_path)),
            "--tag",
            version,
            "--crane",
            str(crane),
        ]
    )


def test_the_verified_digests_get_the_version_tag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crane, calls = registry(tmp_path, {API: {"git-1": DIGEST_A}, CLIENT: {"git-1": DIGEST_C}})
    assert tag(tmp_path, crane) == 0
    assert capsys.readouterr().out == (
        f"api-service: {API}:v1.2.3 -> {DIGEST_A} (tagged)\n"
        f"client-service: {CLIENT}:v1.2.3 -> {DIGEST_C} (tagged)\n"
    )
    assert calls.read_text().splitlines() == [
        f"ls {API}",
        f"ls {CLIENT}",
        f"tag {API}@{DIGEST_A} v1.2.3",
        f"digest {API}:v1.2.3",
        f"tag {CLIENT}@{DIGEST_C} v1.2.3",
        f"digest {CLIENT}:v1.2.3",
    ]
    assert json.loads(crane.with_name("crane.json").read_text()) == {
        API: {"git-1": DIGEST_A, "v1.2.3": DIGEST_A},
        CLIENT: {"git-1": DIGEST_C, "v1.2.3": DIGEST_C},
    }


def test_a_re_run_of_the_same_release_leaves_the_tags_as_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crane, calls = registry(tmp_path, {API: {"v1.2.3": DIGEST_A}, CLIENT: {"v1.2.3": DIGEST_C}})
    assert tag(tmp_path, crane) == 0
    assert capsys.readouterr().out.count("(already tagged)") == 2
    assert [line.split()[0] for line in calls.read_text().splitlines()] == [
        "ls",
        "digest",
        "ls",
        "digest",
    ]


def test_a_version_tag_on_another_digest_is_never_moved_and_nothing_is_tagged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repos = {API: {"git-1": DIGEST_A}, CLIENT: {"git-1": DIGEST_C, "v1.2.3": OTHER}}
    crane, calls = registry(tmp_path, repos)
    assert tag(tmp_path, crane) == 1
    assert capsys.readouterr().err == (
        f"error: client-service: {CLIENT}:v1.2.3 is {OTHER}; refusing to re-point it at"
        f" {DIGEST_C} (a version tag never moves: release a new version)\n"
    )
    assert json.loads(crane.with_name("crane.json").read_text()) == repos  # api-service too
    assert not any(line.startswith("tag ") for line in calls.read_text().splitlines())


@pytest.mark.parametrize("version", ["v1.2", "1.2.3", "v1.2.3-rc.1", "git-1", "latest"])
def test_only_a_semver_version_is_accepted(
    tmp_path: Path, version: str, capsys: pytest.CaptureFixture[str]
) -> None:
    crane, calls = registry(tmp_path, {API: {}, CLIENT: {}})
    assert tag(tmp_path, crane, version) == 1
    assert capsys.readouterr().err == f"error: {version!r} is not vX.Y.Z\n"
    assert not calls.exists()


def test_the_script_names_a_missing_images_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "tag-release"), "--images", str(tmp_path / "no.json"),
         "--tag", "v1.2.3", "--crane", "/bin/false"],
        capture_output=True, text=True, check=False, timeout=60, env=dict(os.environ),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {tmp_path / 'no.json'}: cannot read the images file (No such file or directory)\n"
    )
