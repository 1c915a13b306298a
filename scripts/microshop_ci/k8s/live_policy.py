"""Change a Kyverno ClusterPolicy in the live cluster and wait until Kyverno serves that change.

Kyverno reports a policy `Ready` per generation: after a replace, the change is in force once the
live object is Ready at the generation the replace produced (a replace that changes nothing keeps
the generation, so that wait ends at once). Used by the admission benchmark (useCache on and off)
and by the keyless admission tests (the keyless-local rendering in place of the key one).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import client

from microshop_ci.core.errors import ToolError

GROUP, VERSION, PLURAL = "kyverno.io", "v1", "clusterpolicies"
SETTLE_SECONDS = 60.0  # bound on waiting for Kyverno to report the changed policy ready


def read(custom: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    """The live ClusterPolicy."""
    policy: dict[str, Any] = custom.get_cluster_custom_object(GROUP, VERSION, PLURAL, name)
    return policy


def change(
    custom: client.CustomObjectsApi,
    name: str,
    edit: Callable[[dict[str, Any]], None],
    settle: float = SETTLE_SECONDS,
) -> None:
    """Apply edit to the live policy, replace it, and wait (bounded) until Kyverno has it ready.

    ToolError naming the policy when Kyverno does not report it ready in time.
    """
    policy = read(custom, name)
    edit(policy)
    updated = custom.replace_cluster_custom_object(GROUP, VERSION, PLURAL, name, policy)
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        live = read(custom, name)
        conditions = live.get("status", {}).get("conditions", [])
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        if ready and live["metadata"]["generation"] == updated["metadata"]["generation"]:
            return
        time.sleep(1)
    raise ToolError(f"{name} was not ready {settle:.0f} s after it was changed")


def set_spec(spec: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """An edit that puts spec in place of the live one (metadata and status kept)."""

    def edit(policy: dict[str, Any]) -> None:
        policy["spec"] = spec

    return edit
