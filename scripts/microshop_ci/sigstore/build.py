"""The local Sigstore's Go servers, built from their pinned upstream modules by core.gobuild.

One `go build` per module: Trillian's log server, log signer and createtree share one build (and
so one compile of their common packages). Binaries land in CACHE/cluster/NAME/VERSION/bin.

    microshop sigstore-build    build what is missing, print NAME SECONDS BYTES
"""

from __future__ import annotations

import argparse
import json

from microshop_ci.core.gobuild import GoComponent, build

RELEASE_UTILS = "sigs.k8s.io/release-utils/version"


def _version_stamp(version: str) -> str:
    """The stamp upstream's Makefiles set (`fulcio version`, `rekor-server version`)."""
    return f"-s -w -X {RELEASE_UTILS}.gitVersion={version} -X {RELEASE_UTILS}.gitTreeState=clean"


FULCIO = GoComponent(
    name="fulcio",
    module="github.com/sigstore/fulcio",
    pin_key="FULCIO_VERSION",
    packages=(".",),
    cgo=True,  # PKCS#11 (crypto11) links through cgo even when the file CA is used
    ldflags=_version_stamp,
)
REKOR = GoComponent(
    name="rekor",
    module="github.com/sigstore/rekor",
    pin_key="REKOR_VERSION",
    packages=("./cmd/rekor-server",),
    ldflags=_version_stamp,
)
TRILLIAN = GoComponent(
    name="trillian",
    module="github.com/google/trillian",
    pin_key="TRILLIAN_VERSION",
    packages=("./cmd/trillian_log_server", "./cmd/trillian_log_signer", "./cmd/createtree"),
    # MySQL storage (MariaDB speaks its protocol); `etcd` selects the etcd election provider
    # instead of the Kubernetes one, so client-go is not compiled (the signer runs with
    # --force_master and uses neither)
    tags="mysql etcd",
)
COMPONENTS = (TRILLIAN, REKOR, FULCIO)


def build_all() -> dict[str, dict[str, object]]:
    """Build every component that is not cached; return each one's build.json."""
    report: dict[str, dict[str, object]] = {}
    for component in COMPONENTS:
        build(component)
        report[component.name] = json.loads((component.out_dir.parent / "build.json").read_text())
    return report


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop sigstore-build` takes no arguments."""
    del parser


def run_command(args: argparse.Namespace) -> int:
    """Build them all; one line per component."""
    del args
    for name, done in build_all().items():
        print(f"{name} {done['seconds']}s {json.dumps(done['bytes'])}")
    return 0
