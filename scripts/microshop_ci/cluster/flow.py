"""The kind end-to-end run, here as on GitHub: the same scripts, in the kind-e2e workflow's order.

    kind-up -> install-cluster-addons -> build-images --push -> mesh-proxy-image
    -> [ferretdb image] -> supply-chain
    -> kind-deploy -> sigstore up -> e2e --require-cluster -> sigstore down
    -> (kind-diagnostics on failure) -> kind-down

Each step's output goes to reports/e2e/NN-STEP.log; a line per step says how long it took, and a
failure prints the tail of its log. The cluster is always torn down (unless --keep), also on
Ctrl-C. The build machines differ from GitHub in two places, both explicit: the node image is
built from source, and the database is FerretDB (k8s/components/ferretdb) instead of MongoDB.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from microshop_ci.cluster import database, kind
from microshop_ci.core.gobuild import REPO_ROOT, BuildError
from microshop_ci.core.tools import microshop

REPORTS = REPO_ROOT / "reports" / "e2e"
IMAGES_FILE = REPORTS / "images.json"

# the steps that have no scripts/ wrapper of their own: `microshop NAME` in this environment
PROGRAM_STEPS = frozenset({"sigstore"})


@dataclass
class Flow:
    """One run: its environment, its steps' timings, and whether the cluster must stay."""

    local: bool
    keep: bool = False
    pytest_args: tuple[str, ...] = ()
    sigstore_host: str = ""  # the kind network's gateway, once the cluster is up
    timings: list[tuple[str, float]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """What every step sees: one registry name, plain HTTP to it, the run's images file."""
        return {
            **os.environ,
            "MICROSHOP_REGISTRY": "kind-registry:5000",
            "MICROSHOP_REGISTRY_PLAIN_HTTP": "true",
            "E2E_IMAGES_FILE": str(IMAGES_FILE),
            **({"MICROSHOP_SIGSTORE_HOST": self.sigstore_host} if self.sigstore_host else {}),
        }

    def script(self, name: str, *args: str) -> None:
        """Run scripts/NAME ARGS (`microshop NAME ARGS` for a step with no script of its own),
        its output to a numbered log; BuildError on failure."""
        program = name in PROGRAM_STEPS
        argv = microshop(name, *args) if program else (str(REPO_ROOT / "scripts" / name), *args)
        number = len(self.timings) + 1
        log = REPORTS / f"{number:02d}-{name}.log"
        start = time.monotonic()
        with log.open("w") as out:
            result = subprocess.run(  # nosec B603 -- our own scripts, argv list
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=REPO_ROOT,
                check=False,
            )
        self._done(name, start)
        if result.returncode != 0:
            tail = log.read_text(errors="replace").splitlines()[-40:]
            print("\n".join(f"    {line}" for line in tail), flush=True)
            what = f"microshop {name}" if program else f"scripts/{name}"
            raise BuildError(f"{what} failed (exit {result.returncode}; log: {log})")

    def _done(self, name: str, start: float) -> None:
        seconds = time.monotonic() - start
        self.timings.append((name, seconds))
        print(f"[cluster e2e] {name}: {seconds:.0f} s", flush=True)

    def run(self) -> None:
        """Every step; diagnostics on failure; the cluster removed at the end unless kept."""
        REPORTS.mkdir(parents=True, exist_ok=True)
        ok = False
        try:
            self.steps()
            ok = True
        finally:
            if not ok:
                self._quietly("kind-diagnostics", str(REPORTS / "diagnostics"))
            if not self.keep:
                self._quietly("kind-down")

    def steps(self) -> None:
        """The workflow's steps in order."""
        node = "local" if self.local else "upstream"
        self.script("kind-up", "--node-image", node)
        self.script("install-cluster-addons")
        self.script("build-images", "--base", "local", "--push", "--out", str(IMAGES_FILE))
        self.script("mesh-proxy-image", "--images", str(IMAGES_FILE))
        components: tuple[str, ...] = ()
        if self.local:
            start = time.monotonic()
            database.database_image(IMAGES_FILE)
            self._done("ferretdb image", start)
            components = ("--component", "ferretdb")
        self.script(
            "supply-chain",
            "--mode",
            "key",
            "--images",
            str(IMAGES_FILE),
            "--out-dir",
            str(REPORTS / "supply-chain"),
        )
        self.script("kind-deploy", "--images", str(IMAGES_FILE), *components)
        # the local Sigstore for the keyless admission cases (tests/e2e/cluster/test_keyless.py),
        # on the kind network's gateway: Kyverno looks signatures up in its Rekor
        self.sigstore_host = kind.network_gateway()
        self.script("sigstore", "up")
        try:
            self.script(
                "e2e",
                "--require-cluster",
                "--junitxml",
                str(REPORTS / "junit.xml"),
                *self.pytest_args,
            )
        finally:
            self._quietly("sigstore", "down")

    def _quietly(self, name: str, *args: str) -> None:
        try:
            self.script(name, *args)
        except BuildError as exc:
            print(f"[cluster e2e] {exc}", file=sys.stderr, flush=True)


def run_e2e(local: bool, keep: bool, pytest_args: Sequence[str]) -> int:
    """Run the flow; one line and exit 1 on failure, 130 on Ctrl-C (after tear-down)."""
    flow = Flow(local=local, keep=keep, pytest_args=tuple(pytest_args))
    try:
        flow.run()
    except BuildError as exc:
        print(f"[cluster e2e] FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    total = sum(seconds for _, seconds in flow.timings)
    print(f"[cluster e2e] passed in {total:.0f} s (logs: {REPORTS})")
    return 0
