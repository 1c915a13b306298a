"""Derive a distroless-style Python runtime rootfs from a debootstrapped Debian chroot.

Only the files of the dependency closure of the Python interpreter, CA certificates, tzdata and
netbase are copied; shells, coreutils, dpkg/apt, debconf, perl and docs stay behind. The dpkg
status database is kept (filtered to those packages) so SBOM tools can list the OS packages.
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
from collections.abc import Mapping
from pathlib import Path

from microshop_ci.build.dpkg import Package, closure, owned_paths, parse_status
from microshop_ci.core.errors import MicroshopError, UsageError

ROOTS = (
    "base-files",
    "python3-minimal",
    "libpython3.11-stdlib",
    "ca-certificates",
    "tzdata",
    "netbase",
    "media-types",
)
# Dependencies the runtime must not carry: tools needed only to install or configure packages.
EXCLUDE = ("debconf", "perl-base", "openssl", "dpkg", "coreutils", "dash", "bash", "mawk")
# Libraries that only back stdlib modules a service never imports (dbm, nis, curses, readline):
# left out with those extension modules, to keep the runtime small.
EXCLUDE_LIBS = ("libdb5.3", "libnsl2", "libtirpc3", "libncursesw6", "libtinfo6", "libreadline8")
DROP_MODULES = ("_dbm", "nis", "_curses", "_curses_panel", "readline")
# Paths that are never copied, even when a kept package owns them.
DROP_PREFIXES = (
    "/usr/share/man/",
    "/usr/share/info/",
    "/usr/share/lintian/",
    "/usr/share/locale/",
    "/usr/share/bug/",
    "/usr/share/doc-base/",
    "/usr/sbin/",
    "/sbin/",
    "/usr/libexec/",
    "/usr/lib/python3.11/ensurepip/",
    "/usr/lib/python3.11/lib2to3/",
    "/usr/lib/python3.11/pydoc_data/",
    "/usr/lib/python3.11/test/",
    "/usr/lib/python3.11/turtledemo/",
    "/usr/lib/x86_64-linux-gnu/gconv/",
)
KEEP_BINARIES = ("/usr/bin/python3", "/usr/bin/python3.11")
# Files that postinst scripts generate (not in any .list) and the runtime needs.
GENERATED = ("etc/ssl/certs", "etc/ld.so.cache", "etc/localtime", "etc/timezone")
USERMERGE = ("bin", "sbin", "lib", "lib64")
NONROOT = 65532
PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    f"nonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n"
)
GROUP = "root:x:0:\ntty:x:5:\nstaff:x:50:\nnogroup:x:65534:\nnonroot:x:65532:\n"
NSSWITCH = (
    "passwd: files\ngroup: files\nhosts: files dns\n"
    "networks: files\nprotocols: files\nservices: files\n"
)


def _dropped(path: str) -> bool:
    """Tell whether a package path is left out of the runtime."""
    if path.startswith("/usr/share/doc/"):
        return not (path.endswith("/copyright") or path.count("/") <= 4)
    if path.startswith(("/usr/bin/", "/bin/")):
        usr_path = "/usr" + path if path.startswith("/bin/") else path
        return usr_path not in KEEP_BINARIES
    if path.startswith("/usr/lib/python3.11/lib-dynload/"):
        return path.rsplit("/", 1)[-1].split(".", 1)[0] in DROP_MODULES
    return path.startswith(DROP_PREFIXES) or path in ("/usr/sbin", "/sbin", "/usr/libexec")


def _copy(src_root: Path, dst_root: Path, rel: str) -> float:
    """Copy one path (file, symlink or directory) keeping mode and owner; return its mtime."""
    src, dst = src_root / rel, dst_root / rel
    if not src.is_symlink() and not src.exists():
        return 0.0
    info = src.lstat()
    mtime = info.st_mtime if stat.S_ISREG(info.st_mode) else 0.0
    if dst.is_symlink() or dst.exists():
        return mtime
    dst.parent.mkdir(parents=True, exist_ok=True)
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISDIR(info.st_mode):
        dst.mkdir(mode=stat.S_IMODE(info.st_mode))
        os.chmod(dst, stat.S_IMODE(info.st_mode))
    else:
        shutil.copy2(src, dst, follow_symlinks=False)
    os.lchown(dst, info.st_uid, info.st_gid)
    return mtime


def build_runtime(chroot: Path, out: Path) -> int:
    """Write the runtime rootfs into out and return its SOURCE_DATE_EPOCH (newest package file)."""
    status = (chroot / "var/lib/dpkg/status").read_text()
    packages = parse_status(status)
    keep = closure(packages, ROOTS, EXCLUDE + EXCLUDE_LIBS)
    out.mkdir(parents=True)
    for link in USERMERGE:
        if (chroot / link).is_symlink():
            target = os.readlink(chroot / link)
            (out / target).mkdir(parents=True, exist_ok=True)
            os.symlink(target, out / link)
    newest = 0.0
    for name in keep:
        for path in owned_paths(chroot, name):
            if not _dropped(path):
                newest = max(newest, _copy(chroot, out, path.lstrip("/")))
    for rel in GENERATED:
        src = chroot / rel
        paths = [src, *sorted(src.rglob("*"))] if src.is_dir() and not src.is_symlink() else [src]
        for item in paths:
            _copy(chroot, out, str(item.relative_to(chroot)))
    for pyc in sorted((chroot / "usr/lib/python3.11").rglob("__pycache__/*.pyc")):
        source = pyc.parent.parent / (pyc.name.split(".", 1)[0] + ".py")
        if (out / source.relative_to(chroot)).exists():
            _copy(chroot, out, str(pyc.parent.relative_to(chroot)))
            _copy(chroot, out, str(pyc.relative_to(chroot)))
    _write_system_files(out, packages, keep)
    return int(newest)


def _write_system_files(out: Path, packages: Mapping[str, Package], keep: list[str]) -> None:
    """Write passwd/group/nsswitch, the nonroot home, /tmp and the filtered dpkg status."""
    etc = out / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(PASSWD)
    (etc / "group").write_text(GROUP)
    (etc / "nsswitch.conf").write_text(NSSWITCH)
    for rel, mode, owner in (
        ("tmp", 0o1777, 0),
        ("root", 0o700, 0),
        ("home/nonroot", 0o700, NONROOT),
    ):
        path = out / rel
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        os.chown(path, owner, owner)
    dpkg = out / "var/lib/dpkg"
    dpkg.mkdir(parents=True, exist_ok=True)
    paragraphs = [packages[name].paragraph for name in keep]
    (dpkg / "status").write_text("\n\n".join(paragraphs) + "\n")


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop rootfs CHROOT OUT`."""
    parser.add_argument("chroot", type=Path)
    parser.add_argument("out", type=Path)


def run_command(args: argparse.Namespace) -> int:
    """Derive the runtime rootfs; prints its SOURCE_DATE_EPOCH."""
    if args.out.exists():
        raise UsageError(f"{args.out} already exists")
    try:
        print(build_runtime(args.chroot, args.out))
    except (KeyError, FileNotFoundError) as err:
        raise MicroshopError(str(err)) from err
    return 0
