"""The offline stand-ins' one program: what each hosted action does, done here (standard library).

The composite actions beside this file (mapped by tests/workflows/test_act.py with act's
`--local-repository`) call `python3 "$MICROSHOP_ACT_STANDINS/standin.py" ACTION`, inputs in the
environment as `INPUT_<NAME>` (upper case, `_` for `-`), outputs to `$GITHUB_OUTPUT`:

- upload-artifact / download-artifact: the artifact protocol the real v4+ actions speak (twirp
  JSON, `github.actions.results.api.v1.ArtifactService`), against act's own artifact server
  (`--artifact-server-path`), so files really travel between jobs through the runner.
- upload-sarif: every SARIF file is JSON, SARIF 2.1.0, with runs, and no two runs of one upload
  share a tool (code scanning refuses that within one category); prints the category.
- login-action: registry, username and password given; logs in nowhere.
- action-gh-release: every `files` pattern matches (fail_on_unmatched_files); lists the assets.

A bad input ends with one `::error::` line and exit 1, never a traceback.
"""

from __future__ import annotations

import base64
import fnmatch
import glob
import hashlib
import io
import json
import os
import re
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

SERVICE = "twirp/github.actions.results.api.v1.ArtifactService"
TIMEOUT = 60
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


class StandInError(Exception):
    """A failure the stand-in reports as the hosted action would: one line, exit 1."""


def inp(name: str, default: str = "") -> str:
    """An action input as the composite step passes it (`INPUT_NAME`, upper case, `_` for `-`)."""
    return os.environ.get(f"INPUT_{name.upper().replace('-', '_')}", "").strip() or default


def set_output(name: str, value: str) -> None:
    """One step output, to $GITHUB_OUTPUT."""
    target = os.environ.get("GITHUB_OUTPUT")
    if not target:
        raise StandInError("GITHUB_OUTPUT is not set (not run by a workflow runner?)")
    with open(target, "a", encoding="utf-8") as out:
        out.write(f"{name}={value}\n")


def workspace() -> Path:
    """Where relative paths start: the job's workspace."""
    return Path(os.environ.get("GITHUB_WORKSPACE") or os.getcwd())


# --- artifacts, over act's artifact server ------------------------------------------------------


def backend_ids() -> tuple[str, str]:
    """Run and job backend ids from the runtime token's `Actions.Results:RUN:JOB` scope."""
    token = os.environ.get("ACTIONS_RUNTIME_TOKEN", "")
    parts = token.split(".")
    if len(parts) != 3:
        raise StandInError("ACTIONS_RUNTIME_TOKEN is missing: run act with --artifact-server-path")
    claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    for scope in str(claims.get("scp", "")).split():
        if scope.startswith("Actions.Results:"):
            _, run, job = scope.split(":")
            return run, job
    raise StandInError("the runtime token has no Actions.Results scope")


def twirp(method: str, body: dict[str, Any]) -> dict[str, Any]:
    """One JSON call to the artifact service."""
    base = os.environ.get("ACTIONS_RESULTS_URL", "")
    if not base.startswith("http://127.0.0.1") and not base.startswith("http://localhost"):
        raise StandInError(f"ACTIONS_RESULTS_URL is not act's local artifact server: {base!r}")
    request = urllib.request.Request(  # noqa: S310  (loopback only, checked above)
        f"{base.rstrip('/')}/{SERVICE}/{method}",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {os.environ.get('ACTIONS_RUNTIME_TOKEN', '')}",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:  # noqa: S310
            answer: dict[str, Any] = json.loads(reply.read() or b"{}")
            return answer
    except (urllib.error.URLError, OSError, json.JSONDecodeError) as err:
        raise StandInError(f"artifact service {method}: {err}") from None


def transfer(url: str, method: str, data: bytes | None = None) -> bytes:
    """PUT or GET a signed artifact URL (loopback)."""
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:  # noqa: S310
            body: bytes = reply.read()
            return body
    except (urllib.error.URLError, OSError) as err:
        raise StandInError(f"artifact transfer {method}: {err}") from None


def list_artifacts(run: str, job: str, name: str | None = None) -> list[str]:
    """The names of the run's artifacts (one name, if given and present)."""
    body: dict[str, Any] = {"workflowRunBackendId": run, "workflowJobRunBackendId": job}
    if name:
        body["nameFilter"] = name
    return sorted(a["name"] for a in twirp("ListArtifacts", body).get("artifacts", []))


def matched_files(patterns: list[str]) -> list[Path]:
    """Every file the `path` input names (files, folders, globs), `!` patterns excluded."""
    root = workspace()
    found: set[Path] = set()
    for pattern in (p for p in patterns if not p.startswith("!")):
        base = Path(pattern).expanduser()
        base = base if base.is_absolute() else root / base
        for hit in glob.glob(str(base), recursive=True):
            path = Path(hit)
            if path.is_dir():
                found.update(p for p in path.rglob("*") if p.is_file())
            elif path.is_file():
                found.add(path)
    for pattern in (p[1:] for p in patterns if p.startswith("!")):
        found = {p for p in found if not fnmatch.fnmatch(str(p), str(root / pattern))}
    return sorted(found)


def search_root(patterns: list[str], files: list[Path]) -> Path:
    """The folder the artifact's paths are relative to, as upload-artifact v4 chooses it: the
    search path of the one pattern (its part before any wildcard; a lone file's parent), or the
    least common ancestor of several patterns' search paths."""
    root = workspace()
    searched = []
    for pattern in (p for p in patterns if not p.startswith("!")):
        parts = Path(pattern).expanduser().parts
        plain = Path(*_until_wildcard(parts)) if parts else Path(".")
        searched.append(plain if plain.is_absolute() else root / plain)
    if len(searched) == 1:
        only = searched[0]
        return only.parent if only.is_file() else only
    return Path(os.path.commonpath([str(p) for p in searched] + [str(f.parent) for f in files]))


def _until_wildcard(parts: tuple[str, ...]) -> list[str]:
    kept = []
    for part in parts:
        if any(ch in part for ch in "*?["):
            break
        kept.append(part)
    return kept


def zip_files(files: list[Path], root: Path) -> bytes:
    """The files under root, as upload-artifact lays them out."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            archive.write(path, str(path.relative_to(root)))
    return buffer.getvalue()


def upload_artifact() -> None:
    """actions/upload-artifact: zip the matched files and store them under a new name."""
    name = inp("name", "artifact")
    mode = inp("if-no-files-found", "warn")
    if mode not in ("warn", "error", "ignore"):
        raise StandInError(f"if-no-files-found must be warn, error or ignore, not {mode!r}")
    patterns = [line.strip() for line in inp("path").splitlines() if line.strip()]
    files = matched_files(patterns)
    if not files:
        message = (
            f"No files were found with the provided path: {inp('path')}."
            " No artifacts will be uploaded."
        )
        if mode == "error":
            raise StandInError(message)
        print(f"::warning::{message}" if mode == "warn" else message)
        return
    run, job = backend_ids()
    if name in list_artifacts(run, job, name):
        raise StandInError(f"an artifact with this name already exists on the workflow run: {name}")
    data = zip_files(files, search_root(patterns, files))
    created = twirp(
        "CreateArtifact",
        {"workflowRunBackendId": run, "workflowJobRunBackendId": job, "name": name, "version": 4},
    )
    if not created.get("ok") or not created.get("signedUploadUrl"):
        raise StandInError(f"CreateArtifact refused {name}: {created}")
    transfer(f"{created['signedUploadUrl']}&comp=block", "PUT", data)
    transfer(f"{created['signedUploadUrl']}&comp=blocklist", "PUT", b"")
    digest = hashlib.sha256(data).hexdigest()
    final = twirp(
        "FinalizeArtifact",
        {
            "workflowRunBackendId": run, "workflowJobRunBackendId": job, "name": name,
            "size": str(len(data)), "hash": f"sha256:{digest}",
        },
    )  # fmt: skip
    set_output("artifact-id", str(final.get("artifactId", "")))
    set_output("artifact-digest", digest)
    print(f"upload-artifact stand-in: {name}: {len(files)} files, sha256:{digest}")


def download_artifact() -> None:
    """actions/download-artifact: one artifact by name, or every one a pattern matches."""
    name, pattern = inp("name"), inp("pattern")
    merge = inp("merge-multiple", "false") == "true"
    dest = Path(inp("path", ".")).expanduser()
    dest = dest if dest.is_absolute() else workspace() / dest
    run, job = backend_ids()
    if name:
        names = list_artifacts(run, job, name)
        if name not in names:
            raise StandInError(f"Unable to download artifact(s): not found for name: {name}")
        targets = {name: dest}
    else:
        names = [n for n in list_artifacts(run, job) if fnmatch.fnmatch(n, pattern or "*")]
        targets = {n: dest if merge else dest / n for n in names}
    for artifact, target in targets.items():
        signed = twirp(
            "GetSignedArtifactURL",
            {"workflowRunBackendId": run, "workflowJobRunBackendId": job, "name": artifact},
        )["signedUrl"]
        target.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(io.BytesIO(transfer(signed, "GET"))) as archive:
            for member in archive.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise StandInError(f"{artifact}: unsafe path in the archive: {member}")
            archive.extractall(target)
            count = len(archive.namelist())
        print(f"download-artifact stand-in: {artifact} -> {target} ({count} files)")
    set_output("download-path", str(dest))
    print(f"download-artifact stand-in: {len(targets)} artifacts")


# --- code scanning, attestation, registry login, release ----------------------------------------


def sarif_paths(given: str) -> list[Path]:
    """The SARIF files of the `sarif_file` input (a file, or a folder's *.sarif)."""
    path = Path(given) if Path(given).is_absolute() else workspace() / given
    if path.is_dir():
        files = sorted(path.rglob("*.sarif"))
        if not files:
            raise StandInError(f"No SARIF files found to upload in {given}")
        return files
    if not path.is_file():
        raise StandInError(f"Path does not exist: {given}")
    return [path]


def upload_sarif() -> None:
    """github/codeql-action/upload-sarif: what code scanning would refuse, refused here."""
    category = inp("category")
    tools: dict[str, str] = {}
    results = 0
    files = sarif_paths(inp("sarif_file", "../results"))
    for path in files:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise StandInError(f"{path.name}: not JSON: {err}") from None
        if not isinstance(doc, dict) or doc.get("version") != "2.1.0":
            raise StandInError(f"{path.name}: not SARIF 2.1.0 (version {doc.get('version')!r})")
        runs = doc.get("runs")
        if not isinstance(runs, list) or not runs:
            raise StandInError(f"{path.name}: no runs")
        for run in runs:
            tool = str(run.get("tool", {}).get("driver", {}).get("name", ""))
            if not tool:
                raise StandInError(f"{path.name}: a run without tool.driver.name")
            if tool in tools:
                raise StandInError(
                    f"{path.name} and {tools[tool]}: two runs of tool {tool!r} in one upload"
                    f" (category {category!r})"
                )
            tools[tool] = path.name
            if run.get("automationDetails", {}).get("id") and category:
                raise StandInError(f"{path.name}: automationDetails.id hides category {category!r}")
            results += len(run.get("results") or [])
    print(
        f"upload-sarif stand-in: category {category or '(none)'}: {len(files)} files,"
        f" tools {', '.join(sorted(tools))}, {results} results"
    )
    set_output("sarif-id", f"stand-in-{category or 'default'}")


def login() -> None:
    """docker/login-action: the inputs a login needs, no login."""
    registry, username, password = inp("registry"), inp("username"), inp("password")
    given = {"registry": registry, "username": username, "password": password}
    missing = [key for key, value in given.items() if not value]
    if missing:
        raise StandInError(f"{', '.join(missing)} required")
    print(f"login-action stand-in: {username} at {registry} (no login: no registry is reachable)")


def gh_release() -> None:
    """softprops/action-gh-release: every `files` pattern matches; the assets are listed."""
    strict = inp("fail_on_unmatched_files", "false") == "true"
    assets: list[Path] = []
    for pattern in (p.strip() for p in re.split(r"[\n,]", inp("files")) if p.strip()):
        hits = [Path(h) for h in sorted(glob.glob(str(workspace() / pattern))) if Path(h).is_file()]
        if not hits and strict:
            raise StandInError(f"Pattern '{pattern}' does not match any files.")
        assets += hits
    print(f"action-gh-release stand-in: {len(assets)} assets: {', '.join(p.name for p in assets)}")


ACTIONS: dict[str, Callable[[], None]] = {
    "upload-artifact": upload_artifact,
    "download-artifact": download_artifact,
    "upload-sarif": upload_sarif,
    "login-action": login,
    "action-gh-release": gh_release,
}


def main(argv: list[str]) -> int:
    """Run one stand-in; a failure is one `::error::` line and exit 1."""
    if len(argv) != 1 or argv[0] not in ACTIONS:
        print(f"usage: standin.py {{{','.join(ACTIONS)}}}", file=sys.stderr)
        return 2
    try:
        ACTIONS[argv[0]]()
    except StandInError as err:
        print(f"::error::{argv[0]} stand-in: {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
