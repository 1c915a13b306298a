"""Build every service image hermetically, optionally push it by digest and write the images file.

`scripts/build-images` runs this module; the workflows, the local pipeline and the cluster run
call that script.

1. the base images (microshop_ci.build.base_image), built unless cached.
2. the build context of each service (microshop_ci.build.context): requirements.txt with every
   hash from uv.lock plus the service's own wheel, and the wheels, downloaded against the hashes.
3. `docker build --network none` with a context that holds only requirements.txt + wheels/;
   then the config's build timestamps are reset to SOURCE_DATE_EPOCH and the added layers made
   canonical (normalize_image), so the same commit gives the same image ID and digest on either
   image store.
4. --push: push to the registry, then everything refers to REGISTRY/NAME@sha256:... and the
   images file maps service -> {ref, name, digest, size, ...}.

Env: SOURCE_DATE_EPOCH (default: the HEAD commit time), MICROSHOP_REGISTRY, MICROSHOP_IMAGE_TAG.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.build import images_report, normalize_image
from microshop_ci.build.base_image import base_images
from microshop_ci.build.context import Bases, prepare_context
from microshop_ci.build.image_archive import timestamp
from microshop_ci.core.errors import BuildError
from microshop_ci.core.images import ImageRecord, write_images
from microshop_ci.core.log import log, log_tail
from microshop_ci.core.paths import LOCAL_DIR, REPO_ROOT, REPORTS_DIR, SCRIPTS_DIR
from microshop_ci.core.pins import pins
from microshop_ci.core.tools import ToolError, docker, run_tool, script

BASES = ("local", "distroless")
PINNED_BY_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
PUSHED_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")
LOOPBACK = re.compile(r"^(127\.0\.0\.1|localhost):")
BUILD_LOG_TAIL = 25


@dataclass(frozen=True)
class Options:
    """What scripts/build-images was asked to do."""

    services: tuple[str, ...]
    base: str = "local"
    push: bool = False
    out: Path = REPORTS_DIR / "images.json"
    context_dir: Path = LOCAL_DIR / "build"
    prepare: bool = True
    build: bool = True
    no_cache: bool = False


@dataclass(frozen=True)
class Stamp:
    """What every image of one run is stamped with: the commit, its time, the tag, the source."""

    revision: str
    epoch: int
    tag: str
    source_url: str

    @property
    def created(self) -> str:
        """SOURCE_DATE_EPOCH as the OCI `created` label writes it."""
        return timestamp(self.epoch)


def all_services(root: Path = REPO_ROOT) -> tuple[str, ...]:
    """Every service with a services/NAME/Dockerfile, sorted."""
    return tuple(sorted(p.parent.name for p in (root / "services").glob("*/Dockerfile")))


def check_services(services: Sequence[str], root: Path = REPO_ROOT) -> None:
    """Refuse a service without a Dockerfile, naming it."""
    for service in services:
        if not (root / "services" / service / "Dockerfile").is_file():
            raise BuildError(f"no such service: '{service}' (no services/{service}/Dockerfile)")


def source_url(remote: str, github_repository: str = "") -> str:
    """The public https URL of the source: never a local path, never credentials from the remote."""
    url = ""
    if remote.startswith("https://"):
        url = "https://" + remote.removeprefix("https://").split("@", 1)[-1]
    elif remote.startswith("git@") and ":" in remote:
        host, _, path = remote.removeprefix("git@").partition(":")
        url = f"https://{host}/{path}"
    url = url.removesuffix(".git")
    return url or f"https://github.com/{github_repository or 'microshop/microshop'}"


def _git(*args: str, check: bool = True) -> str:
    """git in the repository: its stdout, or '' where it fails and check is off."""
    result = run_tool(["git", "-C", str(REPO_ROOT), *args], ok_codes=(0,) if check else None)
    return result.stdout.strip() if result.returncode == 0 else ""


def head_revision() -> str:
    """The full commit id of HEAD."""
    return _git("rev-parse", "HEAD")


def git_tag(revision: str) -> str:
    """git-<first 12 hex digits>: the tag of every image built, and promoted, from a commit."""
    return f"git-{revision[:12]}"


def stamp(env: Mapping[str, str]) -> Stamp:
    """The HEAD commit, SOURCE_DATE_EPOCH (default its commit time), the tag and the source."""
    revision = head_revision()
    raw_epoch = env.get("SOURCE_DATE_EPOCH") or _git("log", "-1", "--format=%ct")
    try:
        epoch = int(raw_epoch)
    except ValueError:
        raise BuildError(f"SOURCE_DATE_EPOCH must be whole seconds, not {raw_epoch!r}") from None
    remote = _git("remote", "get-url", "origin", check=False)
    tag = env.get("MICROSHOP_IMAGE_TAG") or git_tag(revision)
    return Stamp(revision, epoch, tag, source_url(remote, env.get("GITHUB_REPOSITORY", "")))


def runtime_base(base: str, local_runtime: str, pins_file: Path) -> str:
    """The runtime base: the local one, or the distroless image pinned by digest in pins_file."""
    if base == "local":
        return local_runtime
    pinned = pins(pins_file).get("DISTROLESS_PYTHON3", "")
    if not PINNED_BY_DIGEST.search(pinned):
        raise BuildError(
            f"scripts/{pins_file.name}: DISTROLESS_PYTHON3 must be pinned by digest (see the file)"
        )
    return pinned


def pinned_version(service: str, requirements: str) -> str:
    """The version requirements.txt pins for the service itself ('' if none)."""
    match = re.search(rf"^{re.escape(service)}==(\S+)", requirements, re.MULTILINE)
    return match[1] if match else ""


def docker_build_argv(
    service: str, context: Path, bases: Bases, run: Stamp, version: str, *, no_cache: bool
) -> list[str]:
    """The classic builder, no network, every build argument from one place."""
    build_args = {
        "BUILDER_IMAGE": bases.builder,
        "BASE_IMAGE": bases.runtime,
        "SOURCE_DATE_EPOCH": str(run.epoch),
        "CREATED": run.created,
        "REVISION": run.revision,
        "VERSION": version,
        "SOURCE_URL": run.source_url,
    }
    return [
        "docker", "build", "--quiet", "--force-rm", "--network", "none",
        f"--no-cache={'true' if no_cache else 'false'}",
        "-f", str(REPO_ROOT / "services" / service / "Dockerfile"),
        *(arg for key, value in build_args.items() for arg in ("--build-arg", f"{key}={value}")),
        "-t", f"{service}:{run.tag}", "-t", f"{service}:local", str(context),
    ]  # fmt: skip


def build_image(service: str, context: Path, bases: Bases, run: Stamp, *, no_cache: bool) -> str:
    """docker build the prepared context, reset its timestamps; return its config digest."""
    version = pinned_version(service, (context / "requirements.txt").read_text())
    log(f"{service}: docker build --network none (base {bases.runtime})")
    build_log = Path(f"{context}.build.log")
    argv = docker_build_argv(service, context, bases, run, version, no_cache=no_cache)
    try:
        run_tool(argv, env={"DOCKER_BUILDKIT": "0"}, log=build_log)
    except ToolError:
        log_tail(build_log, BUILD_LOG_TAIL)
        raise BuildError(f"{service}: docker build failed (log: {build_log})") from None
    # The classic builder stamps build times into the config: reset them to SOURCE_DATE_EPOCH.
    # The layers the build added are rewritten canonically (the same bytes from either image store
    # and whatever the layer cache held); the base image's layers are kept as loaded.
    tag = f"{service}:{run.tag}"
    saved, image = Path(f"{context}.saved.tar"), Path(f"{context}.image.tar")
    docker("save", "-o", str(saved), tag)
    base_layers = int(docker("image", "inspect", "-f", "{{len .RootFS.Layers}}", bases.runtime))
    try:
        config_digest = normalize_image.normalize(saved, image, tag, run.epoch, base_layers)
    except (ValueError, OSError, KeyError) as exc:
        raise BuildError(f"normalize_image: {saved}: {exc}") from None
    docker("load", "-q", "-i", str(image))
    docker("tag", tag, f"{service}:local")
    saved.unlink()
    image.unlink()
    size = docker("image", "inspect", "-f", "{{.Id}} {{.Size}}", tag)
    log(f"{service}: built {tag} ({size} bytes)")
    return config_digest


def registry_address(env: Mapping[str, str]) -> str:
    """MICROSHOP_REGISTRY (else scripts/registry's address), lower case; a local one must answer.

    Image references are lower case (GHCR owners often are not).
    """
    registry = (env.get("MICROSHOP_REGISTRY") or script("registry", "addr")).lower()
    if LOOPBACK.match(registry):
        try:
            script("registry", "status")
        except ToolError:
            raise BuildError(
                f"no registry answers on {registry}: run scripts/registry up"
                " (or set MICROSHOP_REGISTRY)"
            ) from None
    return registry


def push(service: str, registry: str, tag: str) -> str:
    """Push SERVICE:TAG to the registry; return REGISTRY/SERVICE@sha256:..."""
    remote = f"{registry}/{service}:{tag}"
    docker("tag", f"{service}:{tag}", remote)
    match = PUSHED_DIGEST.search(docker("push", remote))
    if not match:
        raise BuildError(f"{service}: docker push {remote} printed no digest")
    ref = f"{registry}/{service}@{match[1]}"
    log(f"{service}: pushed {ref}")
    return ref


def build_all(options: Options, env: Mapping[str, str]) -> dict[str, ImageRecord]:
    """Prepare, build and (with push) push every service; return the pushed images."""
    check_services(options.services)
    run = stamp(env)
    local = base_images()
    runtime = runtime_base(options.base, local.runtime, SCRIPTS_DIR / "base-images.env")
    bases = Bases(local.builder, runtime)
    registry = registry_address(env) if options.push else ""
    pushed: dict[str, ImageRecord] = {}
    for service in options.services:
        context = options.context_dir / service
        start = time.monotonic()
        if options.prepare:
            prepare_context(service, context, bases, run.epoch)
        if not options.build:
            log(f"{service}: context ready in {context}")
            continue
        if not (context / "requirements.txt").is_file():
            raise BuildError(f"{service}: no context in {context} (run without --skip-prepare)")
        config_digest = build_image(service, context, bases, run, no_cache=options.no_cache)
        log(f"{service}: done in {int(time.monotonic() - start)} s")
        if options.push:
            ref = push(service, registry, run.tag)
            local_tag = f"{service}:{run.tag}"
            pushed[service] = images_report.record(
                ref, local_tag, config_digest, run.revision, bases.runtime, bases.builder
            )
    if options.push:
        write_images(options.out, pushed)
        log(f"wrote {options.out}")
    return pushed


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of `microshop build-images` (scripts/build-images)."""
    parser.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NAME",
        help="build only these services (default: every services/*/Dockerfile)",
    )
    parser.add_argument(
        "--base",
        choices=BASES,
        default="local",
        help="local (microshop base-image, default) or distroless (scripts/base-images.env)",
    )
    parser.add_argument(
        "--push",
        action="store_true",
        help="push to $MICROSHOP_REGISTRY (default: scripts/registry addr, 127.0.0.1:5000)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Options.out,
        metavar="FILE",
        help="images file (default reports/images.json; written only with --push)",
    )
    parser.add_argument(
        "--context-dir",
        type=Path,
        default=Options.context_dir,
        metavar="DIR",
        help="where the build contexts go (default .local/build); one sub-folder per service",
    )
    steps = parser.add_mutually_exclusive_group()
    steps.add_argument("--prepare-only", action="store_true", help="write the contexts only")
    steps.add_argument("--skip-prepare", action="store_true", help="build the contexts as they are")
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="do not reuse Docker's layer cache (release builds; reproducibility checks)",
    )


def options(args: argparse.Namespace) -> Options:
    """The build's Options from the parsed command line."""
    return Options(
        services=tuple(args.service) or all_services(),
        base=args.base,
        push=args.push,
        out=args.out,
        context_dir=args.context_dir,
        prepare=not args.skip_prepare,
        build=not args.prepare_only,
        no_cache=args.no_cache,
    )


def run_command(args: argparse.Namespace) -> int:
    """Build (and push) every asked service; a failure raises (one `error: ...` line)."""
    build_all(options(args), os.environ)
    return 0
