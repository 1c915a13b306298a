"""The build stage's logic (microshop_ci.build.images) with stand-in uv and docker: no engine."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from microshop_ci.build import images, images_report
from microshop_ci.build.base_image import BaseImages
from microshop_ci.build.context import (
    PROXY_VARS,
    pip_download_argv,
    prepare_context,
    service_requirement,
    wheel_cache_key,
)
from microshop_ci.cli import main as microshop
from microshop_ci.cli import parse
from microshop_ci.core import tools
from microshop_ci.core.paths import REPO_ROOT
from tests.scripts.build.conftest import executable

EPOCH = 1_700_000_000
EXPORT = "fastapi==0.121.0 \\\n    --hash=sha256:" + "a" * 64 + "\n"
OWN_WHEEL = b"own wheel bytes\n"
BASES = images.Bases(builder="microshop/python3-builder:k", runtime="microshop/python3-runtime:k")
STAMP = images.Stamp("0123456789abcdef", EPOCH, "git-0123456789ab", "https://example.org/shop")
CONFIG = "sha256:" + "c" * 64
PUSHED = "sha256:" + "e" * 64

# uv stand-in: `export` prints EXPORT, `build` writes the service wheel; FAIL_UV=<command> fails.
UV = f"""#!/bin/sh
echo "uv $1 epoch=$SOURCE_DATE_EPOCH" >> "$CALLS"
if [ "$1" = "$FAIL_UV" ]; then echo "uv: $1 went wrong" >&2; exit 2; fi
case "$1" in
  export) printf '%s' '{EXPORT}' ;;
  build) printf '%s' '{OWN_WHEEL.decode()}' > "$6/api_service-0.3.1-py3-none-any.whl" ;;
esac
"""
# docker stand-in: `run` (pip download) writes a wheel into the folder mounted on /wheels.
DOCKER = """#!/bin/sh
echo "docker $*" >> "$CALLS"
if [ "$1" = "$FAIL_DOCKER" ]; then
  i=1; while [ $i -le 30 ]; do echo "step $i" >&2; i=$((i + 1)); done; exit 1
fi
if [ "$1" = run ]; then
  for arg in "$@"; do case "$arg" in *:/wheels) wheels="${arg%:/wheels}" ;; esac; done
  echo locked > "$wheels/fastapi-0.121.0-py3-none-any.whl"
fi
"""


@pytest.fixture
def fakes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Stand-in uv (UV) and docker (first on PATH), the cache in tmp_path; returns the calls log."""
    calls = tmp_path / "calls.txt"
    calls.touch()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("UV", executable(bin_dir / "uv", UV))
    executable(bin_dir / "docker", DOCKER)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("CALLS", str(calls))
    monkeypatch.setenv("MICROSHOP_CACHE", str(tmp_path / "cache"))
    for name in ("FAIL_UV", "FAIL_DOCKER", "SOURCE_DATE_EPOCH"):
        monkeypatch.delenv(name, raising=False)
    return calls


# --- options ---------------------------------------------------------------------------------


def test_without_options_every_service_is_prepared_and_built_locally() -> None:
    assert images.options(parse(["build-images"])) == images.Options(
        services=("api-service", "client-service"),
        base="local",
        push=False,
        out=REPO_ROOT / "reports" / "images.json",
        context_dir=REPO_ROOT / ".local" / "build",
        prepare=True,
        build=True,
        no_cache=False,
    )


def test_every_option_is_read(tmp_path: Path) -> None:
    argv = [
        "--service", "client-service", "--base", "distroless", "--push",
        "--out", str(tmp_path / "o.json"), "--context-dir", str(tmp_path / "ctx"),
        "--skip-prepare", "--no-cache",
    ]  # fmt: skip
    assert images.options(parse(["build-images", *argv])) == images.Options(
        services=("client-service",),
        base="distroless",
        push=True,
        out=tmp_path / "o.json",
        context_dir=tmp_path / "ctx",
        prepare=False,
        build=True,
        no_cache=True,
    )
    assert images.options(parse(["build-images", "--prepare-only"])).build is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--base", "alpine"], "argument --base: invalid choice: 'alpine'"),
        (["--service"], "argument --service: expected one argument"),
        (["--prepare-only", "--skip-prepare"], "argument --skip-prepare: not allowed with"),
        (["--pus"], "unrecognized arguments: --pus"),
    ],
)
def test_a_bad_option_is_named_and_exits_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert microshop(["build-images", *argv]) == 2
    assert message in capsys.readouterr().err


def test_an_unknown_service_is_refused_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def must_not_run(_env: object) -> images.Stamp:
        raise AssertionError("stamp() ran")

    monkeypatch.setattr(images, "stamp", must_not_run)
    assert microshop(["build-images", "--service", "api-service", "--service", "cart-service"]) == 1
    assert capsys.readouterr().err == (
        "error: no such service: 'cart-service' (no services/cart-service/Dockerfile)\n"
    )


# --- what the images are stamped with --------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "repository", "url"),
    [
        ("https://x-access-token:s3cr3t@github.com/o/shop.git", "", "https://github.com/o/shop"),
        ("https://github.com/o/shop", "", "https://github.com/o/shop"),
        ("git@github.com:o/shop.git", "", "https://github.com/o/shop"),
        ("/home/me/shop", "", "https://github.com/microshop/microshop"),
        ("", "octo/shop", "https://github.com/octo/shop"),
    ],
    ids=["https-with-token", "https", "ssh", "local-path", "no-remote-on-github"],
)
def test_the_source_label_is_a_public_url_without_credentials(
    remote: str, repository: str, url: str
) -> None:
    assert images.source_url(remote, repository) == url


def test_the_stamp_is_the_head_commit_and_the_given_epoch_and_tag() -> None:
    head = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    got = images.stamp({"SOURCE_DATE_EPOCH": str(EPOCH), "MICROSHOP_IMAGE_TAG": "pr-7"})
    assert (got.revision, got.epoch, got.tag, got.created) == (
        head, EPOCH, "pr-7", "2023-11-14T22:13:20Z"
    )  # fmt: skip
    assert images.stamp({"SOURCE_DATE_EPOCH": "1"}).tag == f"git-{head[:12]}"


def test_an_epoch_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(images.BuildError) as err:
        images.stamp({"SOURCE_DATE_EPOCH": "yesterday"})
    assert str(err.value) == "SOURCE_DATE_EPOCH must be whole seconds, not 'yesterday'"


def test_the_distroless_base_must_be_pinned_by_digest(tmp_path: Path) -> None:
    pinned = tmp_path / "base-images.env"
    assert images.runtime_base("local", "runtime:k", pinned) == "runtime:k"
    for value in ("", "gcr.io/distroless/python3-debian12:nonroot"):
        pinned.write_text(f"# comment\nDISTROLESS_PYTHON3={value}\n")
        images.pins.cache_clear()
        with pytest.raises(images.BuildError) as err:
            images.runtime_base("distroless", "runtime:k", pinned)
        assert str(err.value) == (
            "scripts/base-images.env: DISTROLESS_PYTHON3 must be pinned by digest (see the file)"
        )
    digest_ref = "gcr.io/distroless/python3-debian12:nonroot@sha256:" + "f" * 64
    pinned.write_text(f"DISTROLESS_PYTHON3={digest_ref}\n")
    images.pins.cache_clear()
    assert images.runtime_base("distroless", "runtime:k", pinned) == digest_ref


# --- the build context -----------------------------------------------------------------------


def test_the_wheel_cache_key_is_the_requirements_hash() -> None:
    assert wheel_cache_key(EXPORT) == hashlib.sha256(EXPORT.encode()).hexdigest()[:16]
    assert wheel_cache_key(EXPORT) != wheel_cache_key(EXPORT + "x==1\n")


def test_the_service_wheel_is_pinned_by_version_and_hash(tmp_path: Path) -> None:
    wheel = tmp_path / "api_service-0.3.1-py3-none-any.whl"
    wheel.write_bytes(OWN_WHEEL)
    line = service_requirement("api-service", wheel)
    assert line == (
        f"api-service==0.3.1 \\\n    --hash=sha256:{hashlib.sha256(OWN_WHEEL).hexdigest()}\n"
    )
    assert images.pinned_version("api-service", EXPORT + line) == "0.3.1"
    assert images.pinned_version("client-service", EXPORT + line) == ""


def test_pip_download_gets_the_host_ca_read_only_and_proxies_by_name(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("cert")
    argv = pip_download_argv(tmp_path / "wh", "builder:k", {"PIP_CERT": str(ca)}, "1:2")
    assert argv[:9] == [
        "docker", "run", "--rm", "--user", "1:2", "-e", "HOME=/tmp", "-v", f"{tmp_path}/wh:/wheels"
    ]  # fmt: skip
    assert argv[9:13] == [
        "-v",
        f"{ca}:/etc/ssl/host-ca.pem:ro",
        "-e",
        "PIP_CERT=/etc/ssl/host-ca.pem",
    ]
    assert [a for a in argv if "PROXY" in a.upper()] == list(PROXY_VARS)
    assert argv[argv.index("builder:k") :] == [
        "builder:k", "-m", "pip", "download", "--quiet", "--no-cache-dir",
        "--disable-pip-version-check", "--only-binary=:all:", "--require-hashes", "--no-deps",
        "--dest", "/wheels", "-r", "/wheels/requirements.txt",
    ]  # fmt: skip
    missing = {"SSL_CERT_FILE": str(tmp_path / "absent.pem")}
    assert "PIP_CERT=/etc/ssl/host-ca.pem" not in pip_download_argv(tmp_path, "b", missing, "1:2")


def test_docker_build_gets_no_network_and_every_build_argument(tmp_path: Path) -> None:
    argv = images.docker_build_argv("api-service", tmp_path, BASES, STAMP, "0.3.1", no_cache=True)
    assert argv == [
        "docker", "build", "--quiet", "--force-rm", "--network", "none", "--no-cache=true",
        "-f", str(REPO_ROOT / "services" / "api-service" / "Dockerfile"),
        "--build-arg", f"BUILDER_IMAGE={BASES.builder}",
        "--build-arg", f"BASE_IMAGE={BASES.runtime}",
        "--build-arg", f"SOURCE_DATE_EPOCH={EPOCH}",
        "--build-arg", "CREATED=2023-11-14T22:13:20Z",
        "--build-arg", "REVISION=0123456789abcdef",
        "--build-arg", "VERSION=0.3.1",
        "--build-arg", "SOURCE_URL=https://example.org/shop",
        "-t", "api-service:git-0123456789ab", "-t", "api-service:local", str(tmp_path),
    ]  # fmt: skip


def test_a_context_holds_the_hashed_requirements_and_the_wheels_at_the_epoch(
    tmp_path: Path, fakes: Path
) -> None:
    context = tmp_path / "ctx" / "api-service"
    prepare_context("api-service", context, BASES, EPOCH)
    own = hashlib.sha256(OWN_WHEEL).hexdigest()
    assert (context / "requirements.txt").read_text() == (
        f"{EXPORT}api-service==0.3.1 \\\n    --hash=sha256:{own}\n"
    )
    assert sorted(p.name for p in (context / "wheels").iterdir()) == [
        "api_service-0.3.1-py3-none-any.whl",
        "fastapi-0.121.0-py3-none-any.whl",
    ]
    assert {p.lstat().st_mtime for p in (context, *context.rglob("*"))} == {EPOCH}
    wheelhouse = tmp_path / "cache" / "wheels" / wheel_cache_key(EXPORT)
    assert (wheelhouse / ".complete").is_file()
    assert (wheelhouse / "requirements.txt").read_text() == EXPORT
    # A second context of the same lock reuses the downloaded wheels: no second `docker run`.
    prepare_context("api-service", context, BASES, EPOCH)
    calls = fakes.read_text().splitlines()
    assert [c.split(" ", 2)[:2] for c in calls] == [
        ["uv", "export"], ["docker", "run"], ["uv", "build"],
        ["uv", "export"], ["uv", "build"],
    ]  # fmt: skip
    assert calls[2] == f"uv build epoch={EPOCH}"


@pytest.mark.parametrize(
    ("failing", "message"),
    [
        ("export", "uv.lock does not match the pyproject files (uv export --locked failed)"),
        ("build", "uv build of the service wheel failed"),
    ],
)
def test_a_failing_uv_step_names_the_service(
    tmp_path: Path,
    fakes: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    failing: str,
    message: str,
) -> None:
    monkeypatch.setenv("FAIL_UV", failing)
    with pytest.raises(images.BuildError) as err:
        prepare_context("api-service", tmp_path / "ctx", BASES, EPOCH)
    assert str(err.value) == f"api-service: {message}"
    assert f"uv: {failing} went wrong" in capsys.readouterr().err


def test_a_failed_wheel_download_is_not_cached(
    tmp_path: Path, fakes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIL_DOCKER", "run")
    with pytest.raises(images.BuildError) as err:
        prepare_context("client-service", tmp_path / "ctx", BASES, EPOCH)
    assert str(err.value) == "client-service: pip download of the locked wheels failed"
    wheelhouse = tmp_path / "cache" / "wheels" / wheel_cache_key(EXPORT)
    assert not (wheelhouse / ".complete").exists()


def test_a_failed_docker_build_shows_the_last_25_lines_of_its_log(
    tmp_path: Path,
    fakes: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FAIL_DOCKER", "build")
    context = tmp_path / "api-service"
    context.mkdir()
    (context / "requirements.txt").write_text(f"{EXPORT}api-service==0.3.1 \\\n")
    with pytest.raises(images.BuildError) as err:
        images.build_image("api-service", context, BASES, STAMP, no_cache=False)
    assert str(err.value) == f"api-service: docker build failed (log: {context}.build.log)"
    err_lines = capsys.readouterr().err.splitlines()
    assert err_lines[-25:] == [f"step {i}" for i in range(6, 31)]
    assert "--build-arg VERSION=0.3.1" in fakes.read_text()


# --- push and the images file ----------------------------------------------------------------


def test_a_local_registry_that_does_not_answer_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    def registry(name: str, *args: str) -> str:
        assert (name, args) == ("registry", ("status",))
        raise tools.ToolError("registry exited 1: ")

    monkeypatch.setattr(images, "script", registry)
    with pytest.raises(images.BuildError) as err:
        images.registry_address({"MICROSHOP_REGISTRY": "localhost:5001"})
    assert str(err.value) == (
        "no registry answers on localhost:5001: run scripts/registry up (or set MICROSHOP_REGISTRY)"
    )


def test_a_remote_registry_is_lower_cased_and_not_probed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "script", pytest.fail)
    assert images.registry_address({"MICROSHOP_REGISTRY": "ghcr.io/Owner"}) == "ghcr.io/owner"


def test_a_push_without_a_digest_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "docker", lambda *_args: "The push refers to repository")
    with pytest.raises(images.BuildError) as err:
        images.push("api-service", "127.0.0.1:5000", "git-1")
    assert (
        str(err.value)
        == "api-service: docker push 127.0.0.1:5000/api-service:git-1 printed no digest"
    )


def test_push_writes_one_entry_per_service_through_the_images_file_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed: list[str] = []

    def fake_docker(*args: str) -> str:
        pushed.append(" ".join(args))
        return f"git-1: digest: {PUSHED} size: 1234" if args[0] == "push" else ""

    monkeypatch.setattr(images, "base_images", lambda: BaseImages("run:k", "build:k"))
    monkeypatch.setattr(images, "prepare_context", lambda s, c, *_a: c.mkdir(parents=True))
    monkeypatch.setattr(images, "build_image", lambda *_a, **_k: CONFIG)
    monkeypatch.setattr(images, "docker", fake_docker)
    monkeypatch.setattr(
        images_report,
        "_inspect",
        lambda tag: {"Id": "sha256:" + "d" * 64, "Size": 42, "Config": {"User": "65532:65532"}},
    )
    options = images.Options(
        services=("client-service",), push=True, out=tmp_path / "r" / "images.json",
        context_dir=tmp_path / "ctx", prepare=False,
    )  # fmt: skip
    (tmp_path / "ctx" / "client-service").mkdir(parents=True)
    (tmp_path / "ctx" / "client-service" / "requirements.txt").write_text(EXPORT)
    env = {"MICROSHOP_REGISTRY": "Reg.Example:5000", "SOURCE_DATE_EPOCH": str(EPOCH),
           "MICROSHOP_IMAGE_TAG": "git-1"}  # fmt: skip
    records = images.build_all(options, env)
    ref = f"reg.example:5000/client-service@{PUSHED}"
    assert pushed == [
        "tag client-service:git-1 reg.example:5000/client-service:git-1",
        "push reg.example:5000/client-service:git-1",
    ]
    assert [r.ref for r in records.values()] == [ref]
    written = json.loads(options.out.read_text())
    assert written == {
        "client-service": {
            "ref": ref,
            "name": "reg.example:5000/client-service",
            "digest": PUSHED,
            "image_id": CONFIG,
            "engine_image_id": "sha256:" + "d" * 64,
            "size": 42,
            "user": "65532:65532",
            "revision": images.stamp(env).revision,
            "base_image": "run:k",
            "builder_image": "build:k",
            "local_tag": "client-service:git-1",
        }
    }


def test_building_without_a_prepared_context_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(images, "base_images", lambda: BaseImages("run:k", "build:k"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    code = microshop(
        [
            "build-images",
            "--service",
            "api-service",
            "--skip-prepare",
            "--context-dir",
            str(tmp_path),
        ]
    )
    assert code == 1
    assert capsys.readouterr().err == (
        f"error: api-service: no context in {tmp_path}/api-service (run without --skip-prepare)\n"
    )


def test_prepare_only_builds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    prepared: list[str] = []
    monkeypatch.setattr(images, "base_images", lambda: BaseImages("run:k", "build:k"))
    monkeypatch.setattr(images, "prepare_context", lambda s, *_a: prepared.append(s))
    monkeypatch.setattr(images, "build_image", pytest.fail)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH))
    assert microshop(["build-images", "--prepare-only", "--context-dir", str(tmp_path)]) == 0
    assert prepared == ["api-service", "client-service"]
    err = capsys.readouterr().err
    assert err.count("context ready in") == 2
    assert f"client-service: context ready in {tmp_path}/client-service" in err


# --- the entry points ------------------------------------------------------------------------


def test_the_script_names_an_unknown_service_and_exits_1() -> None:
    result = subprocess.run(
        [str(REPO_ROOT / "scripts" / "build-images"), "--service", "cart-service"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert (result.returncode, result.stdout, result.stderr) == (
        1, "", "error: no such service: 'cart-service' (no services/cart-service/Dockerfile)\n"
    )  # fmt: skip
