"""tests/e2e against the cluster the kubeconfig points at (scripts/e2e; kind in CI).

It sets E2E_CLUSTER=1, the opt-in of the cluster folder (a plain pytest run skips it). Without a
reachable cluster the cluster tests skip with one line saying why and this exits 0,
unless --require-cluster (the kind workflow) makes a missing cluster a failure. Other arguments go
to pytest. Env: KUBECONFIG, E2E_NAMESPACE (microshop), E2E_INGRESS_URL, E2E_INGRESS_HOST,
E2E_IMAGES_FILE (reports/images.json), E2E_ADMIN_EMAIL / E2E_ADMIN_PASSWORD_FILE (optional).
"""

from __future__ import annotations

import argparse
import os
import sys

from microshop_ci.core.paths import REPO_ROOT, REPORTS_DIR
from microshop_ci.core.tools import python_module, run_visible

NOTHING_RAN = 5  # pytest's exit code when no test ran


def configure(parser: argparse.ArgumentParser) -> None:
    """`microshop e2e [--require-cluster] [PYTEST_ARGS...]`."""
    parser.add_argument("--require-cluster", action="store_true",
                        help="a missing cluster is a failure (the kind workflow)")  # fmt: skip
    parser.set_defaults(extra_args=[])  # pytest's own arguments, passed through


def run_command(args: argparse.Namespace) -> int:
    """pytest over tests/e2e; 0 when no cluster is there and none is required."""
    env = dict(os.environ, E2E_CLUSTER="1")  # the opt-in tests/e2e/cluster/conftest.py reads
    if args.require_cluster:
        env["E2E_REQUIRE_CLUSTER"] = "1"
    env.setdefault("E2E_IMAGES_FILE", str(REPORTS_DIR / "images.json"))
    pytest = python_module(
        "pytest", "tests/e2e", "-m", "e2e", "-p", "no:cacheprovider", *args.extra_args
    )
    status = run_visible(pytest, cwd=REPO_ROOT, env=env)
    # Nothing ran: only when the cluster folder skipped as a whole (no cluster).
    if status == NOTHING_RAN and env.get("E2E_REQUIRE_CLUSTER") != "1":
        print(
            "tests/e2e: no cluster, nothing to run (the SKIPPED line above says why)",
            file=sys.stderr,
        )
        return 0
    return status
