"""OpenBao as the project uses it: KV v2 reads and check-and-set writes, mounts, policies, audit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from microshop_ci.secrets.bao import BaoError, run_bao, run_json
from microshop_ci.secrets.layout import MOUNT, ROTATOR_POLICY, SERVICES, Secret, policy_file


@dataclass(frozen=True)
class Stored:
    """A secret's current fields and KV version (version 0: not written yet)."""

    data: dict[str, str]
    version: int


def read(secret: Secret) -> Stored:
    """The secret's latest version; Stored({}, 0) when it was never written."""
    try:
        answer: Any = run_json(["kv", "get"], [f"-mount={MOUNT}", secret.path], path=secret.path)
    except BaoError as exc:
        if "No value found" in str(exc):
            return Stored({}, 0)
        raise
    data = answer["data"]
    return Stored({k: str(v) for k, v in data["data"].items()}, int(data["metadata"]["version"]))


def write(secret: Secret, data: dict[str, str], after: int) -> int:
    """Write a new version only if the latest is still `after` (check-and-set); its version."""
    unknown = sorted(set(data) - set(secret.fields))
    if unknown:
        raise BaoError(f"{secret.path}: unknown field(s) {', '.join(unknown)}")
    answer: Any = run_json(
        ["kv", "put"],
        [f"-mount={MOUNT}", f"-cas={after}", secret.path, "-"],
        path=secret.path,
        stdin=json.dumps(data),  # on stdin: a value in argv would show in `ps`
    )
    return int(answer["data"]["version"])


def mounts() -> dict[str, Any]:
    """The secrets engines, by path (`secret/`, ...)."""
    answer: dict[str, Any] = run_json(["secrets", "list"], [], path="sys/mounts")
    return answer


def audit_devices() -> dict[str, Any]:
    """The enabled audit devices, by path (`file/`, ...)."""
    answer: dict[str, Any] = run_json(["audit", "list"], [], path="sys/audit") or {}
    return answer


def setup() -> list[str]:
    """Make the KV v2 mount and write every policy, once an audit device records requests.

    OpenBao 2 enables audit devices only from its server configuration (declarative, so no
    request is ever served unaudited): without one, nothing is set up.
    """
    if not audit_devices():
        raise BaoError(
            "sys/audit: no audit device is enabled; declare one in the server configuration"
            " (an `audit` stanza, as in k8s/openbao/server/openbao.hcl)"
        )
    done = []
    if f"{MOUNT}/" not in mounts():
        run_bao(["secrets", "enable", f"-path={MOUNT}", "kv-v2"], path=f"sys/mounts/{MOUNT}")
        done.append(f"enabled KV v2 at {MOUNT}/")
    for name in (*SERVICES, ROTATOR_POLICY):
        hcl = policy_file(name).read_text()
        run_bao(["policy", "write", name, "-"], path=f"sys/policies/acl/{name}", stdin=hcl)
        done.append(f"wrote policy {name}")
    return done
