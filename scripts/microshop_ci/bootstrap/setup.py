"""Set up this machine for the tests and the local pipeline: system packages, Docker engine, pinned
uv and the locked Python environment. Safe to run again; does only what is missing.

Usage: microshop setup [--no-docker] [--no-browser]   (scripts/setup)
  --no-docker   neither install nor start a Docker engine
  --no-browser  no headless Chromium (the storefront's browser tests need one)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from microshop_ci import browser
from microshop_ci.bootstrap import dockerd
from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.log import log
from microshop_ci.core.paths import REPO_ROOT
from microshop_ci.core.tools import ToolError, as_root, run, run_tool
from microshop_ci.core.uv import ensure_uv

# debian-archive-keyring and gpgv: every debootstrap checks the Release signature;
# libseccomp-dev: runc for the local kind node image is built with cgo against it.
BASE_PACKAGES = ("debootstrap", "debian-archive-keyring", "gpgv", "wrk", "jq", "libseccomp-dev")
# A Docker engine already installed (GitHub's runners ship Docker CE) is used as it is.
DOCKER_PACKAGE = "docker.io"
INSTALL_TIMEOUT = 1800.0


class SetupError(MicroshopError):
    """No browser, or a step that failed."""


@dataclass(frozen=True)
class Options:
    """What to set up beside the base packages and the Python environment."""

    docker: bool = True
    browser: bool = True


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop setup [--no-docker] [--no-browser]`."""
    parser.add_argument(
        "--no-docker",
        dest="docker",
        action="store_false",
        help="neither install nor start a Docker engine",
    )
    parser.add_argument(
        "--no-browser",
        dest="browser",
        action="store_false",
        help="no headless Chromium (the storefront's browser tests need one)",
    )


def browser_plan() -> browser.BrowserPlan:
    """This machine's plan for a headless Chromium (see microshop_ci.browser)."""
    return browser.plan(
        browser.read_os_release(), Path.exists, os.environ.get("MICROSHOP_CHROMIUM")
    )


def wanted_packages(
    options: Options, has_dockerd: bool, plan: browser.BrowserPlan | None
) -> list[str]:
    """The Debian packages this machine needs: the base ones, docker.io where no engine is
    installed, the browser plan's; a browser plan without a browser stops with its reason."""
    packages = list(BASE_PACKAGES)
    if options.docker and not has_dockerd:
        packages.append(DOCKER_PACKAGE)
    if plan is not None:
        if plan.error:
            print(f"browser: {plan.error}", file=sys.stderr)
            raise SetupError(
                "scripts/setup: no browser for the storefront tests (or run with --no-browser)"
            )
        packages.extend(plan.packages)
    return packages


def installed(package: str) -> bool:
    """True if dpkg knows the package as installed (`install ok installed`)."""
    try:
        result = run(["dpkg-query", "-W", "-f=${Status}", package])
    except ToolError:  # no dpkg-query: nothing counts as installed
        return False
    return result.returncode == 0 and "ok installed" in result.stdout


def missing(packages: Sequence[str], is_installed: Callable[[str], bool] = installed) -> list[str]:
    """The packages not installed yet, in order."""
    return [p for p in packages if not is_installed(p)]


def install(packages: Sequence[str]) -> None:
    """apt-get update, then install the packages (as root, or through sudo)."""
    log(f"installing Debian packages: {' '.join(packages)}")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    run_tool(as_root(["apt-get", "update", "-qq"]), env=env, timeout=INSTALL_TIMEOUT)
    run_tool(
        as_root(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]),
        env=env,
        timeout=INSTALL_TIMEOUT,
    )


def sync_python() -> None:
    """uv sync of the locked environment (every workspace package), with the pinned uv."""
    uv = ensure_uv()
    log("syncing the locked Python environment")
    run_tool(
        [str(uv), "sync", "--frozen", "--all-packages", "--quiet"],
        cwd=REPO_ROOT,
        timeout=INSTALL_TIMEOUT,
    )


def setup(options: Options) -> None:
    """Packages, then the engine, then the Python environment."""
    plan = browser_plan() if options.browser else None
    packages = wanted_packages(options, shutil.which("dockerd") is not None, plan)
    if plan is not None:
        log(f"browser: {plan.binary}")
    absent = missing(packages)
    if absent:
        install(absent)
    if options.docker:
        dockerd.ensure(os.environ)
    sync_python()


def run_command(args: argparse.Namespace) -> int:
    """Set up what is missing; a failure raises (one `error: ...` line, exit 1)."""
    setup(Options(docker=args.docker, browser=args.browser))
    return 0
