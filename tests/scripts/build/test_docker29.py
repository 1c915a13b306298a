"""The image build on Docker 29's containerd image store gives the same images as on Debian's.

GitHub's ubuntu-24.04 runners ship Docker 29, whose fresh installs keep images in containerd;
this machine's engine is Debian's docker.io 20.10 (graph drivers). A second engine, dockerd built
from moby's pinned module (MOBY_VERSION) with the containerd snapshotter, is started isolated
(tests/scripts/build/second_engine.py), and the project's real scripts/build-images (with the
base image build it needs) runs against each engine through DOCKER_HOST, on one prepared context,
each pushing to a registry of this test's own (the second engine's in its network namespace:
with `--bridge=none` dockerd deletes the host's docker0 otherwise). Asserted: the classic
builder builds with `--network none` on both, the images file's `image_id` (the normalizer's
config digest) is the same for both engines while the engines' own ids differ in kind, the
registry holds exactly that config, and `docker save` on the containerd store is the OCI layout
the normalizer reads.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from microshop_ci.build.normalize_image import normalize
from microshop_ci.core.pins import pin
from tests.conftest import REPO_ROOT, free_port
from tests.scripts.build.conftest import SCRIPTS, SERVICES, run
from tests.scripts.build.second_engine import Engine, second_engine

pytestmark = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("MICROSHOP_TEST_ENGINES") != "1",
        reason="the Docker 29 proof runs on demand (about 7 min, and about 15 min to build moby "
        "once): MICROSHOP_TEST_ENGINES=1 scripts/test tests/scripts/build/test_docker29.py",
    ),
]

MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])  # fmt: skip
TAGS = {"debian": "d29-debian", "moby": "d29-moby"}


@dataclass(frozen=True)
class Build:
    """One scripts/build-images --push run: its images file, log and time."""

    images: dict[str, dict[str, str]]
    stderr: str
    seconds: float
    build_logs: dict[str, str]  # what `docker build` printed besides the image id, per service


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """dockerd 29 on the containerd image store, isolated; stopped and removed after."""
    if os.geteuid() != 0:
        # GitHub's runners run the tests unprivileged, and their own engine is Docker 29 already:
        # every image test there runs on it (the slow-tests job)
        pytest.skip("the second engine needs root (dockerd); here the tests run unprivileged")
    with second_engine() as started:
        yield started


@dataclass(frozen=True)
class Registry:
    """A registry of this test's own: its address, and the prefix that runs a command in the
    network namespace where it answers (empty: this machine's)."""

    address: str
    where: tuple[str, ...]

    def manifest(self, name: str, digest: str) -> dict[str, Any]:
        """The manifest name@digest as the registry serves it."""
        url = f"http://{self.address}/v2/{name}/manifests/{digest}"
        got = subprocess.run(
            [*self.where, "curl", "-fsS", "--max-time", "30", "-H", f"Accept: {MANIFEST_TYPES}",
             url],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        manifest: dict[str, Any] = json.loads(got.stdout)
        return manifest


@contextlib.contextmanager
def registry_at(address: str, data: Path, where: tuple[str, ...]) -> Iterator[Registry]:
    """scripts/registry up/down with its own address and data, in a network namespace."""
    env = {**os.environ, "MICROSHOP_REGISTRY": address, "MICROSHOP_REGISTRY_DATA": str(data)}
    subprocess.run([*where, SCRIPTS / "registry", "up"], env=env, check=True, capture_output=True)
    try:
        yield Registry(address, where)
    finally:
        subprocess.run(
            [*where, SCRIPTS / "registry", "down"], env=env, check=False, capture_output=True
        )


@pytest.fixture(scope="module")
def registries(
    docker: str, engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Registry]]:
    """One registry per engine: on a free loopback port here, and one in the second engine's
    network namespace (its own 127.0.0.1:5000, which this machine never sees)."""
    data = tmp_path_factory.mktemp("registries")
    here = f"127.0.0.1:{free_port()}"
    with (
        registry_at(here, data / "debian", ()) as debian,
        registry_at("127.0.0.1:5000", data / "moby", tuple(engine.in_netns())) as moby,
    ):
        yield {"debian": debian, "moby": moby}


def build_images(
    context: Path, out: Path, registry: Registry, tag: str, engine: Engine | None
) -> Build:
    """scripts/build-images --push on one engine: this machine's, or the second one, run in its
    network namespace (where its registry answers)."""
    env = {**(engine.env() if engine else os.environ), "MICROSHOP_REGISTRY": registry.address}
    env["MICROSHOP_IMAGE_TAG"] = tag
    started = time.monotonic()
    result = subprocess.run(
        [*registry.where, SCRIPTS / "build-images", "--skip-prepare", "--context-dir", context,
         "--push", "--out", out],
        env=env, capture_output=True, text=True, check=False, timeout=1800,
    )  # fmt: skip
    if result.returncode != 0:
        where = engine.host if engine else "this machine"
        pytest.fail(f"build-images on {where} failed:\n{result.stderr[-4000:]}")
    logs = {s: (context / f"{s}.build.log").read_text() for s in SERVICES}
    return Build(json.loads(out.read_text()), result.stderr, time.monotonic() - started, logs)


def base_images() -> list[str]:
    """The base image tags of this tree (microshop base-image --env, on this machine)."""
    lines = run(sys.executable, "-m", "microshop_ci", "base-image", "--env").stdout.splitlines()
    return [line.split("=", 1)[1] for line in lines]


def copy_base_images(engine: Engine) -> None:
    """This machine's base images into the second engine (`docker save | docker load`).

    The bases come from debootstrap of the day they were built: copying them makes the image_id
    comparison a comparison of the engines alone. The base build itself runs on the second engine
    in test_the_base_image_build_runs_on_the_containerd_store."""
    with subprocess.Popen(["docker", "save", *base_images()], stdout=subprocess.PIPE) as save:
        loaded = subprocess.run(
            [engine.docker, "--host", engine.host, "load", "-q"],
            stdin=save.stdout, capture_output=True, text=True, check=False, timeout=600,
        )  # fmt: skip
    assert save.returncode == 0
    assert loaded.returncode == 0, loaded.stderr


@pytest.fixture(scope="module")
def builds(
    docker: str,
    engine: Engine,
    registries: dict[str, Registry],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Build]]:
    """The same prepared context built on this machine's engine and on dockerd 29."""
    work = tmp_path_factory.mktemp("docker29")
    run(SCRIPTS / "build-images", "--prepare-only", "--context-dir", work / "context")
    copy_base_images(engine)
    context = work / "context"
    done = {
        "debian": build_images(
            context, work / "debian.json", registries["debian"], TAGS["debian"], None
        ),
        "moby": build_images(context, work / "moby.json", registries["moby"], TAGS["moby"], engine),
    }
    yield done
    # only the tags this test made on this machine's engine (the second engine goes away whole)
    here = registries["debian"].address
    for service in SERVICES:
        for ref in (f"{service}:{TAGS['debian']}", f"{here}/{service}:{TAGS['debian']}"):
            run("docker", "image", "rm", ref, check=False)


def test_the_second_engine_is_docker_29_on_the_containerd_image_store(engine: Engine) -> None:
    assert engine.info["ServerVersion"] == pin("MOBY_VERSION")
    assert ["driver-type", "io.containerd.snapshotter.v1"] in engine.info["DriverStatus"]  # type: ignore[operator]
    version = run(engine.docker, "--host", engine.host, "version", "--format", "{{json .}}")
    both = json.loads(version.stdout)
    assert both["Server"]["ApiVersion"] == "1.56"  # moby's daemon/config MaxAPIVersion
    assert both["Client"]["Version"] == pin("DOCKER_CLI_VERSION").strip("v").split("+")[0]
    assert engine.info["DockerRootDir"] == str(engine.root / "data")  # not /var/lib/docker


def test_both_engines_build_every_service_offline_with_the_classic_builder(
    builds: dict[str, Build],
) -> None:
    for build in builds.values():
        assert sorted(build.images) == sorted(SERVICES)
        for service in SERVICES:
            assert f"{service}: docker build --network none" in build.stderr
    # the 29 CLI still runs the classic builder for DOCKER_BUILDKIT=0, and says it is deprecated
    for log in builds["moby"].build_logs.values():
        assert "DEPRECATED: The legacy builder is deprecated" in log


def test_image_id_is_the_same_on_both_image_stores(builds: dict[str, Build]) -> None:
    debian, moby = builds["debian"].images, builds["moby"].images
    for service in SERVICES:
        assert moby[service]["image_id"] == debian[service]["image_id"], service
        # the classic store's id is the config digest; the containerd store's is the manifest's
        assert debian[service]["engine_image_id"] == debian[service]["image_id"]
        assert moby[service]["engine_image_id"] != moby[service]["image_id"]


def test_the_registry_holds_the_normalized_config_from_either_engine(
    builds: dict[str, Build], registries: dict[str, Registry]
) -> None:
    for engine, build in builds.items():
        for service, image in build.images.items():
            manifest = registries[engine].manifest(service, image["digest"])
            assert manifest["config"]["digest"] == image["image_id"]


def test_docker_save_on_the_containerd_store_is_an_oci_layout_the_normalizer_reads(
    engine: Engine, builds: dict[str, Build], tmp_path: Path
) -> None:
    image = builds["moby"].images["api-service"]
    saved = tmp_path / "saved.tar"
    with saved.open("wb") as out:
        subprocess.run(
            [engine.docker, "--host", engine.host, "save", f"api-service:{TAGS['moby']}"],
            stdout=out, check=True, timeout=600,
        )  # fmt: skip
    with tarfile.open(saved) as archive:
        names = set(archive.getnames())
        manifest = json.load(io.BytesIO(archive.extractfile("manifest.json").read()))  # type: ignore[union-attr]
    assert {"oci-layout", "index.json", "manifest.json"} <= names
    assert all(layer.startswith("blobs/sha256/") for layer in manifest[0]["Layers"])
    # the loaded, normalized image saved again normalizes to the same id: a fixed point
    again = normalize(saved, tmp_path / "again.tar", "api-service:again", image_epoch(image), 1)
    assert again == image["image_id"]


def image_epoch(image: dict[str, str]) -> int:
    """SOURCE_DATE_EPOCH of the build: the commit time of the image's revision."""
    shown = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "log", "-1", "--format=%ct", image["revision"]],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return int(shown.stdout)


def test_the_base_image_build_runs_on_the_containerd_store(
    engine: Engine, builds: dict[str, Build], tmp_path: Path
) -> None:
    # after the builds (which used this machine's bases): debootstrap and `docker load` for real
    result = subprocess.run(
        [sys.executable, "-m", "microshop_ci", "base-image", "--force", "--env"],
        env=engine.env(), capture_output=True, text=True, check=False, timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    runtime, builder = (line.split("=", 1)[1] for line in result.stdout.splitlines())
    assert "base images built in" in result.stderr
    for tag, comment in ((runtime, "runtime"), (builder, "builder")):
        saved = tmp_path / f"{comment}.tar"
        with saved.open("wb") as out:
            subprocess.run(
                [engine.docker, "--host", engine.host, "save", tag],
                stdout=out, check=True, timeout=600,
            )  # fmt: skip
        with tarfile.open(saved) as archive:
            (manifest,) = json.load(archive.extractfile("manifest.json"))  # type: ignore[arg-type]
            config = json.load(archive.extractfile(manifest["Config"]))  # type: ignore[arg-type]
        assert manifest["RepoTags"] == [tag]
        assert len(config["rootfs"]["diff_ids"]) == 1
        assert config["history"][0]["created_by"].startswith(
            f"microshop base-image {comment} (bookworm"
        )
