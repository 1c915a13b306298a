"""`microshop cluster`: components, node image, kind up and down, add-ons, deploy, e2e.

    microshop cluster build [NAME...]     build pinned components (all by default)
    microshop cluster kubectl             build kubectl alone (the cluster's version)
    microshop cluster node-image          build the kind node image, print its name
    microshop cluster up [--node-image upstream|local]
    microshop cluster down
    microshop cluster addons [--mesh|--no-mesh]
    microshop cluster database-image --images FILE
    microshop cluster proxy-image --images FILE   the injected sidecar, to be signed
    microshop cluster deploy --images FILE [--overlay kind] [--component NAME]...
    microshop cluster diagnostics OUT_DIR     never fails: notes what it cannot get
    microshop cluster e2e [--keep] [--node-image upstream|local] [PYTEST_ARGS...]

A failure is one line naming the step and its log, exit 1; `up` then tears down what it started.
Ctrl-C during `up` tears down too (exit 130).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from microshop_ci.cluster import (
    addons,
    components,
    database,
    deploy,
    diagnostics,
    flow,
    kind,
    kyverno,
    mesh,
    nodeimage,
)
from microshop_ci.core.errors import UsageError
from microshop_ci.core.gobuild import BuildError, build, build_seconds


def _build(names: Sequence[str]) -> int:
    known = {
        c.name: c
        for c in (
            *components.ALL,
            *kyverno.COMPONENTS,
            *mesh.COMPONENTS,
            *components.ENGINE,
            *components.CLIENT,
        )
    }
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"unknown component {unknown[0]!r} (known: {', '.join(known)})")
    chosen = [known[n] for n in names] if names else list(known.values())
    for component in chosen:
        out = build(component)
        print(f"{component.name} {component.version}: {out} ({build_seconds(component)} s)")
    return 0


def _up(source: str) -> int:
    settings = kind.ClusterSettings.from_env()
    try:
        kind.up(settings, source)
    except BaseException as exc:
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        print(f"cluster: bring-up failed: {reason}; tearing down", file=sys.stderr)
        try:
            kind.down(settings)
        except BuildError as down_exc:
            print(f"cluster: tear-down failed too: {down_exc}", file=sys.stderr)
        raise
    print(f"cluster: kind cluster '{settings.name}' and registry {settings.registry} are up")
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    """The cluster's subcommands (the module docstring)."""
    sub = parser.add_subparsers(dest="command", required=True)
    build_parser = sub.add_parser("build", help="build components (all when none is named)")
    build_parser.add_argument("names", nargs="*")
    sub.add_parser("kubectl", help="build kubectl alone from the pinned Kubernetes source")
    sub.add_parser("node-image", help="build the kind node image from source")
    up_parser = sub.add_parser("up", help="create the kind cluster and its registry")
    up_parser.add_argument(
        "--node-image", choices=("upstream", "local"), default=kind.default_node_source()
    )
    sub.add_parser("down", help="delete the cluster, its registry and what bring-up added")
    addons_parser = sub.add_parser("addons", help="Kyverno (and Istio with --mesh)")
    addons_parser.add_argument(
        "--mesh",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="install Istio built from the pinned commit (default); --no-mesh: its CRDs only",
    )
    db_parser = sub.add_parser("database-image", help="push FerretDB, add it to the images file")
    db_parser.add_argument("--images", type=Path, required=True)
    proxy_parser = sub.add_parser(
        "proxy-image", help="add the sidecar image istiod injects to the images file"
    )
    proxy_parser.add_argument("--images", type=Path, required=True)
    deploy_parser = sub.add_parser("deploy", help="policies, secrets, the shop; wait for it")
    deploy_parser.add_argument("--images", type=Path, default=Path(""))
    deploy_parser.add_argument("--overlay", default="kind", help="k8s/overlays/NAME")
    deploy_parser.add_argument(
        "--component", action="append", default=[], help="add k8s/components/NAME (ferretdb)"
    )
    diag_parser = sub.add_parser("diagnostics", help="collect what explains a cluster run")
    diag_parser.add_argument("out", type=Path)
    e2e_parser = sub.add_parser("e2e", help="the whole kind end-to-end run")
    e2e_parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    e2e_parser.add_argument(
        "--node-image", choices=("upstream", "local"), default=kind.default_node_source()
    )
    e2e_parser.set_defaults(extra_args=[])  # pytest's own arguments, passed through


def run_command(args: argparse.Namespace) -> int:
    """Run one subcommand."""
    handlers: dict[str, Callable[[], int]] = {
        "build": lambda: _build(args.names),
        "kubectl": lambda: _print(kind.build_kubectl()),
        "node-image": lambda: _print(nodeimage.build_node_image()),
        "up": lambda: _up(args.node_image),
        "down": lambda: _down(),
        "addons": lambda: _addons(args.mesh),
        "database-image": lambda: _print(database.database_image(args.images)),
        "proxy-image": lambda: _print(mesh.add_proxy_to_images_file(args.images)),
        "deploy": lambda: _done(lambda: deploy.deploy(args.images, args.overlay, args.component)),
        "diagnostics": lambda: _done(lambda: diagnostics.diagnose(args.out)),
        "e2e": lambda: flow.run_e2e(args.node_image == "local", args.keep, args.extra_args),
    }
    return handlers[args.command]()


def _print(text: str) -> int:
    print(text)
    return 0


def _done(action: Callable[[], None]) -> int:
    action()
    return 0


def _down() -> int:
    kind.down(kind.ClusterSettings.from_env())
    return 0


def _addons(mesh: bool) -> int:
    addons.install(mesh)
    return 0
