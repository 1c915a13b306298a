"""The base image's logic (microshop_ci.build.base_image) with a stand-in debootstrap: no engine."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from microshop_ci.build import base_image
from microshop_ci.cli import main as microshop
from tests.scripts.build.conftest import executable

# debootstrap stand-in: logs whether SOURCE_DATE_EPOCH reached it; FAIL=signature|network fails.
DEBOOTSTRAP = """#!/bin/sh
echo "epoch=${SOURCE_DATE_EPOCH-unset} $*" >> "$CALLS"
case "$FAIL" in
  signature) echo "I: Retrieving InRelease"; echo "E: Release signed by unknown key" >&2; exit 1 ;;
  network) i=1; while [ $i -le 30 ]; do echo "I: line $i"; i=$((i + 1)); done; exit 1 ;;
esac
"""


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> base_image.Source:
    """A keyring file, a stand-in debootstrap first on PATH, the cache in tmp_path."""
    keyring = tmp_path / "keyring.gpg"
    keyring.write_bytes(b"key")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "debootstrap", DEBOOTSTRAP)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CALLS", str(tmp_path / "calls.txt"))
    monkeypatch.setenv("MICROSHOP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.delenv("FAIL", raising=False)
    # sudo (for a non-root runner) would reset PATH: the stand-in runs as this user.
    monkeypatch.setattr(base_image, "as_root", list)
    return base_image.Source("http://mirror.example/debian", keyring)


def test_the_mirror_and_keyring_come_from_the_environment() -> None:
    assert base_image.Source.from_env({}) == base_image.Source(
        "http://deb.debian.org/debian", Path("/usr/share/keyrings/debian-archive-keyring.gpg")
    )
    env = {"MICROSHOP_DEBIAN_MIRROR": "http://snapshot/x", "MICROSHOP_DEBIAN_KEYRING": "/k.gpg"}
    assert base_image.Source.from_env(env) == base_image.Source("http://snapshot/x", Path("/k.gpg"))


@pytest.mark.parametrize("content", [None, b""], ids=["missing", "empty"])
def test_a_missing_or_empty_keyring_is_refused(tmp_path: Path, content: bytes | None) -> None:
    keyring = tmp_path / "k.gpg"
    if content is not None:
        keyring.write_bytes(content)
    with pytest.raises(base_image.BaseImageError) as err:
        base_image.Source("m", keyring).check_keyring()
    assert str(err.value) == (
        f"Debian archive keyring {keyring} is missing or empty: install"
        " debian-archive-keyring (scripts/setup)"
    )


def test_the_cache_key_covers_the_build_code_the_mirror_and_nothing_else(tmp_path: Path) -> None:
    code = tmp_path / "code.py"
    code.write_text("a = 1\n")
    key = base_image.cache_key("http://m", [code])
    assert re.fullmatch(r"[0-9a-f]{16}", key)
    assert base_image.cache_key("http://m", [code]) == key
    assert base_image.cache_key("http://other", [code]) != key
    code.write_text("a = 2\n")
    assert base_image.cache_key("http://m", [code]) != key
    assert [p.name for p in base_image.KEY_SOURCES] == [
        "base_image.py", "dpkg.py", "rootfs.py", "image_archive.py"
    ]  # fmt: skip


def test_both_images_carry_the_key_in_their_tag() -> None:
    images = base_image.image_names("http://m")
    key = base_image.cache_key("http://m")
    assert images == base_image.BaseImages(
        f"microshop/python3-runtime:bookworm-{key}", f"microshop/python3-builder:bookworm-{key}"
    )
    assert images.lines(as_env=True) == (
        f"RUNTIME_IMAGE={images.runtime}\nBUILDER_IMAGE={images.builder}\n"
    )
    assert images.lines(as_env=False) == f"{images.runtime}\n{images.builder}\n"


def test_debootstrap_checks_signatures_and_runs_without_source_date_epoch(
    tmp_path: Path, source: base_image.Source
) -> None:
    base_image.bootstrap(source, tmp_path / "chroot", tmp_path / "debootstrap.log")
    debs = tmp_path / "cache" / "base" / "debs"
    assert (tmp_path / "calls.txt").read_text() == (
        f"epoch=unset --variant=minbase --keyring={source.keyring} --force-check-gpg"
        f" --cache-dir={debs} --include={base_image.PACKAGES} bookworm {tmp_path}/chroot"
        " http://mirror.example/debian\n"
    )


@pytest.fixture
def failed_bootstrap(
    tmp_path: Path,
    source: base_image.Source,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[[str], tuple[str, list[str]]]:
    """Run bootstrap() with the stand-in failing as told; its error and the stderr lines."""

    def fail(kind: str) -> tuple[str, list[str]]:
        monkeypatch.setenv("FAIL", kind)
        with pytest.raises(base_image.BaseImageError) as err:
            base_image.bootstrap(source, tmp_path / "chroot", tmp_path / "debootstrap.log")
        return str(err.value), capsys.readouterr().err.splitlines()

    return fail


def test_a_release_file_that_does_not_verify_is_named(
    source: base_image.Source, failed_bootstrap: Callable[[str], tuple[str, list[str]]]
) -> None:
    message, stderr = failed_bootstrap("signature")
    assert message == (
        f"debootstrap: the bookworm Release file does not verify against {source.keyring}"
        " (refusing unauthenticated packages)"
    )
    assert stderr[1:] == ["I: Retrieving InRelease", "E: Release signed by unknown key"]


def test_another_debootstrap_failure_shows_the_last_20_lines_of_its_log(
    failed_bootstrap: Callable[[str], tuple[str, list[str]]],
) -> None:
    message, stderr = failed_bootstrap("network")
    assert message == "debootstrap failed (log above)"
    assert stderr[1:] == [f"I: line {i}" for i in range(11, 31)]  # after the progress line


def test_rootfs_only_bootstraps_into_the_folder(
    tmp_path: Path, source: base_image.Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base_image.dockerd, "ensure", pytest.fail)  # no dockerd, no images
    env = {"MICROSHOP_DEBIAN_KEYRING": str(source.keyring)}
    assert base_image.rootfs_only(tmp_path / "root", env) == tmp_path / "root" / "chroot"
    assert f" bookworm {tmp_path}/root/chroot " in (tmp_path / "calls.txt").read_text()
    assert (tmp_path / "root" / "debootstrap.log").is_file()


def test_cached_images_are_reused_and_printed_for_source(
    source: base_image.Source,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    scripts: list[Sequence[str]] = []
    monkeypatch.setattr(base_image.dockerd, "ensure", lambda env: scripts.append(("dockerd-up",)))
    monkeypatch.setattr(base_image, "image_exists", lambda _name: True)
    monkeypatch.setattr(base_image, "_build", pytest.fail)
    monkeypatch.setenv("MICROSHOP_DEBIAN_KEYRING", str(source.keyring))
    assert microshop(["base-image", "--env"]) == 0
    images = base_image.image_names(base_image.MIRROR)
    out, err = capsys.readouterr()
    assert out == f"RUNTIME_IMAGE={images.runtime}\nBUILDER_IMAGE={images.builder}\n"
    assert f"base images cached ({images.runtime}, {images.builder})" in err
    assert scripts == [("dockerd-up",)]


def test_force_rebuilds_in_a_work_folder_that_is_removed_after(
    tmp_path: Path, source: base_image.Source, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Path] = []

    def fake_build(_source: base_image.Source, _images: object, work: Path) -> None:
        assert work.is_dir()
        built.append(work)
        raise base_image.BaseImageError("debootstrap failed (log above)")

    monkeypatch.setattr(base_image.dockerd, "ensure", lambda env: None)
    monkeypatch.setattr(base_image, "image_exists", lambda _name: True)
    monkeypatch.setattr(base_image, "_build", fake_build)
    with pytest.raises(base_image.BaseImageError):
        base_image.base_images(force=True, env={"MICROSHOP_DEBIAN_KEYRING": str(source.keyring)})
    assert [p.parent for p in built] == [tmp_path / "cache" / "base"]
    assert built[0].name.startswith("work.")
    assert not built[0].exists()


def test_a_missing_keyring_stops_the_script_with_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MICROSHOP_DEBIAN_KEYRING", str(tmp_path / "none.gpg"))
    monkeypatch.setattr(base_image.dockerd, "ensure", pytest.fail)
    assert microshop(["base-image"]) == 1
    assert capsys.readouterr() == (
        "",
        f"error: Debian archive keyring {tmp_path}/none.gpg is missing or empty: install"
        " debian-archive-keyring (scripts/setup)\n",
    )
