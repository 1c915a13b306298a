"""Build the local Python base images from Debian bookworm packages (debootstrap), no registry.

`microshop base-image` runs this module; `microshop_ci.build.images` calls base_images().

runtime  distroless-equivalent: Debian's python3.11 + libs, CA certs, tzdata, netbase, a dpkg
         status file for SBOMs, passwd entry nonroot 65532; no shell, no apt/dpkg, no pip.
builder  the same packages plus python3-pip, binutils (strip) and the minbase tools (has a
         shell): the Dockerfiles' build stage installs the locked wheels with it.

Both come from one debootstrap, so the interpreter in both stages is byte-identical. Images are
written as docker-archives with `created` = SOURCE_DATE_EPOCH (newest packaged file), so the same
package set gives the same image ID. Cached by content key: a warm run only checks the images.

Every package is authenticated: debootstrap checks the Release file's signature against Debian's
archive keyring (package debian-archive-keyring, installed by scripts/setup) and refuses to go on
without it (--force-check-gpg), so a runner without the keyring fails instead of building from
unverified packages.

Env: MICROSHOP_DEBIAN_MIRROR (default http://deb.debian.org/debian), e.g. a snapshot.debian.org
     URL to pin a date; it is part of the cache key.
     MICROSHOP_DEBIAN_KEYRING (default /usr/share/keyrings/debian-archive-keyring.gpg).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.bootstrap import dockerd
from microshop_ci.build import dpkg, image_archive, rootfs
from microshop_ci.core.cache import cache_root, locked
from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.log import log, log_tail
from microshop_ci.core.tools import ToolError, as_root, docker, image_exists, microshop, run_tool

SUITE = "bookworm"
RUNTIME_PACKAGES = "python3-minimal,libpython3.11-stdlib,ca-certificates,tzdata,netbase,python3-pip"
BUILD_TOOLS = "binutils"  # the builder's only: strip, for the build stage's build/slim.py
PACKAGES = f"{RUNTIME_PACKAGES},{BUILD_TOOLS}"
MIRROR = "http://deb.debian.org/debian"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
# The code that decides what goes into the images: a change to any of it is a new cache key.
KEY_SOURCES = tuple(
    Path(f) for f in (__file__, dpkg.__file__, rootfs.__file__, image_archive.__file__)
)
BASE_ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
]
# py_compile (run by the packages' postinst) switches to hash-based .pyc when SOURCE_DATE_EPOCH
# is set: every command of the base build runs without it, so the base is the same whoever asks
# for it (timestamp .pyc from the packaged sources' mtimes are deterministic too).
NO_EPOCH = ("env", "-u", "SOURCE_DATE_EPOCH")
BAD_SIGNATURE = re.compile(
    r"signed by unknown key|Release signature|invalid signature|NO_PUBKEY|BADSIG", re.IGNORECASE
)
MOUNTS = ("proc", "sys", "dev/pts", "dev")


class BaseImageError(MicroshopError):
    """The base images cannot be built: the message says why and what to do."""


@dataclass(frozen=True)
class Source:
    """Where the packages come from and the keyring their Release file must verify against."""

    mirror: str
    keyring: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Source:
        """MICROSHOP_DEBIAN_MIRROR and MICROSHOP_DEBIAN_KEYRING, or Debian's defaults."""
        return cls(
            env.get("MICROSHOP_DEBIAN_MIRROR") or MIRROR,
            Path(env.get("MICROSHOP_DEBIAN_KEYRING") or KEYRING),
        )

    def check_keyring(self) -> None:
        """Refuse a missing or empty keyring before anything is fetched."""
        if not self.keyring.is_file() or self.keyring.stat().st_size == 0:
            raise BaseImageError(
                f"Debian archive keyring {self.keyring} is missing or empty: install"
                " debian-archive-keyring (scripts/setup)"
            )


@dataclass(frozen=True)
class BaseImages:
    """The two local image names of one cache key."""

    runtime: str
    builder: str

    def lines(self, *, as_env: bool) -> str:
        """What the script prints: two names, or RUNTIME_IMAGE=/BUILDER_IMAGE= lines."""
        if as_env:
            return f"RUNTIME_IMAGE={self.runtime}\nBUILDER_IMAGE={self.builder}\n"
        return f"{self.runtime}\n{self.builder}\n"


def cache_key(mirror: str, sources: Sequence[Path] = KEY_SOURCES) -> str:
    """16 hex digits over the build code, the suite, the mirror and the package list."""
    digest = hashlib.sha256()
    for path in sources:
        digest.update(path.read_bytes())
    digest.update(f"{SUITE} {mirror} {PACKAGES}\n".encode())
    return digest.hexdigest()[:16]


def image_names(mirror: str) -> BaseImages:
    """microshop/python3-{runtime,builder}:bookworm-KEY."""
    key = cache_key(mirror)
    return BaseImages(
        f"microshop/python3-runtime:{SUITE}-{key}", f"microshop/python3-builder:{SUITE}-{key}"
    )


def bootstrap(source: Source, target: Path, logfile: Path) -> None:
    """debootstrap with the Release signature checked against the keyring; refuse a bad one."""
    if shutil.which("debootstrap") is None:
        raise BaseImageError("debootstrap not found: run scripts/setup")
    debs = cache_root() / "base" / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    log(
        f"debootstrap {SUITE} ({PACKAGES}) from {source.mirror}, signatures checked against"
        f" {source.keyring}"
    )
    argv = [
        *NO_EPOCH,
        "debootstrap",
        "--variant=minbase",
        f"--keyring={source.keyring}",
        "--force-check-gpg",
        f"--cache-dir={debs}",
        f"--include={PACKAGES}",
        SUITE,
        str(target),
        source.mirror,
    ]
    try:
        run_tool(as_root(argv), log=logfile)
    except ToolError:
        log_tail(logfile, 20)
        if BAD_SIGNATURE.search(logfile.read_text(errors="replace") if logfile.is_file() else ""):
            raise BaseImageError(
                f"debootstrap: the {SUITE} Release file does not verify against"
                f" {source.keyring} (refusing unauthenticated packages)"
            ) from None
        raise BaseImageError("debootstrap failed (log above)") from None


def _layer(folder: Path, tar: Path, epoch: int) -> None:
    """A deterministic layer: sorted names, one mtime, numeric owners, GNU format."""
    run_tool(
        as_root(
            [
                "tar", "--sort=name", "--format=gnu", "--numeric-owner", f"--mtime=@{epoch}",
                "--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./dev/*",
                "-C", str(folder), "-cf", str(tar), ".",
            ]
        )
    )  # fmt: skip


def _load(
    work: Path, tag: str, folder: Path, epoch: int, *, user: str = "", entrypoint: str, comment: str
) -> None:
    """Write folder as a one-layer image called tag and load it into Docker."""
    _layer(folder, work / "layer.tar", epoch)
    image_archive.write_image(
        work / "layer.tar",
        work / "image.tar",
        tag,
        epoch,
        env=BASE_ENV,
        user=user,
        entrypoint=[entrypoint],
        comment=comment,
    )
    docker("load", "-q", "-i", str(work / "image.tar"))
    log(f"loaded {tag} ({docker('image', 'inspect', '-f', '{{.Id}}', tag)})")


def _build(source: Source, images: BaseImages, work: Path) -> None:
    """debootstrap once, derive the runtime rootfs, load both images."""
    start = time.monotonic()
    chroot = work / "chroot"
    bootstrap(source, chroot, work / "debootstrap.log")
    junk = [chroot / "debootstrap", chroot / "var/cache/ldconfig/aux-cache"]
    for pattern in ("var/cache/apt/*.bin", "var/lib/apt/lists/*", "var/log/*"):
        junk.extend(sorted(chroot.glob(pattern)))
    run_tool(as_root(["rm", "-rf", *map(str, junk)]))
    log("deriving the runtime rootfs")
    derive = [*NO_EPOCH, *microshop("rootfs", str(chroot), str(work / "runtime"))]
    epoch = int(run_tool(as_root(derive)).stdout.strip())
    _load(
        work, images.runtime, work / "runtime", epoch,
        user="65532:65532", entrypoint="/usr/bin/python3.11",
        comment=f"microshop base-image runtime ({SUITE}: {RUNTIME_PACKAGES} minus pip, shells,"
        " dpkg)",
    )  # fmt: skip
    _load(
        work, images.builder, chroot, epoch,
        entrypoint="/bin/bash",
        comment=f"microshop base-image builder ({SUITE} minbase: {PACKAGES})",
    )  # fmt: skip
    log(f"base images built in {int(time.monotonic() - start)} s")


def _clean(work: Path) -> None:
    """Unmount what debootstrap mounted in the chroot, then remove the work folder."""
    for mount in MOUNTS:
        target = work / "chroot" / mount
        if run_tool(["mountpoint", "-q", str(target)], ok_codes=None).returncode == 0:
            run_tool(as_root(["umount", "-l", str(target)]), ok_codes=None)
    run_tool(as_root(["rm", "-rf", str(work)]), ok_codes=None)


def base_images(*, force: bool = False, env: Mapping[str, str] | None = None) -> BaseImages:
    """The two base images, built unless both exist for this key (or force); their names."""
    source = Source.from_env(os.environ if env is None else env)
    source.check_keyring()
    images = image_names(source.mirror)
    dockerd.ensure(os.environ)
    base_cache = cache_root() / "base"
    base_cache.mkdir(parents=True, exist_ok=True)
    with locked(base_cache / ".lock"):
        if not force and image_exists(images.runtime) and image_exists(images.builder):
            log(f"base images cached ({images.runtime}, {images.builder})")
            return images
        work = Path(tempfile.mkdtemp(prefix="work.", dir=base_cache))
        try:
            _build(source, images, work)
        finally:
            _clean(work)
    return images


def rootfs_only(folder: Path, env: Mapping[str, str] | None = None) -> Path:
    """Only debootstrap (signature-checked) into FOLDER/chroot; no Docker, no images."""
    source = Source.from_env(os.environ if env is None else env)
    source.check_keyring()
    folder.mkdir(parents=True, exist_ok=True)
    bootstrap(source, folder / "chroot", folder / "debootstrap.log")
    log(f"rootfs in {folder / 'chroot'}")
    return folder / "chroot"


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop base-image [--force] [--env] [--rootfs-only DIR]`."""
    parser.add_argument("--force", action="store_true", help="rebuild even if the images exist")
    parser.add_argument(
        "--env",
        action="store_true",
        dest="as_env",
        help="print RUNTIME_IMAGE=... and BUILDER_IMAGE=... (for `source <(...)`), not two names",
    )
    parser.add_argument(
        "--rootfs-only",
        type=Path,
        metavar="DIR",
        help="only debootstrap (signature-checked) into DIR/chroot; no Docker, no images",
    )


def run_command(args: argparse.Namespace) -> int:
    """Build the two images (or only the rootfs) and print their names."""
    try:
        if args.rootfs_only:
            rootfs_only(args.rootfs_only)
            return 0
        images = base_images(force=args.force)
    except OSError as exc:
        raise BaseImageError(str(exc)) from exc
    sys.stdout.write(images.lines(as_env=args.as_env))
    return 0
