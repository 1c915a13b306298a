"""Images the cluster code builds itself (database, mesh): build, push, record in the images file.

One way for all of them: a Docker build of a small context with no network, a push to the run's
registry, and the digest the registry answered; the images file gains NAME -> {ref, name, digest}
so scripts/supply-chain signs and attests the image like the services.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from microshop_ci.cluster.kind import log_path
from microshop_ci.cluster.run import run
from microshop_ci.core.gobuild import BuildError
from microshop_ci.core.images import (
    ImageRecord,
    ImageRef,
    ImagesFileError,
    read_images,
    write_images,
)


def registry() -> str:
    """The run's registry (MICROSHOP_REGISTRY, as the flow sets it), lower-cased for Docker."""
    return os.environ.get("MICROSHOP_REGISTRY", "kind-registry:5000").lower()


def build_and_push(tag: str, dockerfile: str, files: Mapping[str, Path]) -> str:
    """Build tag from dockerfile and files (context name -> file), push, return NAME@sha256:..."""
    with tempfile.TemporaryDirectory() as tmp:
        context = Path(tmp)
        for name, source in files.items():
            shutil.copyfile(source, context / name)
            (context / name).chmod(0o755 if os.access(source, os.X_OK) else 0o644)
        (context / "Dockerfile").write_text(dockerfile)
        run(
            ["docker", "build", "--quiet", "--network", "none", "-t", tag, str(context)],
            step=f"docker build {tag}",
            log=log_path(),
        )
    run(["docker", "push", tag], step=f"docker push {tag}", log=log_path())
    return pushed_digest_ref(tag)


def pushed_digest_ref(tag: str) -> str:
    """NAME@sha256:... of a pushed tag, as the registry reported it to Docker."""
    digests = run(
        ["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", tag],
        step=f"docker image inspect {tag}",
        log=log_path(),
    )
    name = tag.rpartition(":")[0]
    for ref in json.loads(digests):
        if ref.startswith(f"{name}@sha256:"):
            return str(ref)
    raise BuildError(f"{tag} was pushed but Docker reports no digest for {name}")


def add_to_images_file(path: Path, name: str, ref: str) -> None:
    """Record the image as name in the images file (the other entries stay as they are)."""
    try:
        records = dict(read_images(path))
        records[name] = ImageRecord(ImageRef.parse(ref))
    except (ImagesFileError, ValueError) as exc:
        raise BuildError(str(exc)) from None
    write_images(path, records)
