"""The local cluster's database image: the pinned FerretDB binary FROM scratch, pushed by digest.

It joins the images file as `ferretdb`, so scripts/supply-chain signs it like the services and
scripts/render-manifests (with k8s/components/ferretdb) deploys it by digest; Kyverno admits it
only because it is signed.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from microshop_ci.cluster.gobuild import BuildError
from microshop_ci.cluster.kind import log_path, tool
from microshop_ci.cluster.pins import pin
from microshop_ci.cluster.run import run

NAME = "ferretdb"
DOCKERFILE = """\
FROM scratch
COPY ferretdb /ferretdb
USER 65532:65532
ENTRYPOINT ["/ferretdb"]
"""


def build_and_push(registry: str) -> str:
    """Build the image, push it to registry, return REGISTRY/ferretdb@sha256:..."""
    tag = f"{registry.lower()}/{NAME}:{pin('FERRETDB_VERSION')}"
    with tempfile.TemporaryDirectory() as tmp:
        context = Path(tmp)
        shutil.copyfile(tool("ferretdb"), context / "ferretdb")
        (context / "ferretdb").chmod(0o755)
        (context / "Dockerfile").write_text(DOCKERFILE)
        run(
            ["docker", "build", "--quiet", "--network", "none", "-t", tag, str(context)],
            step="docker build (ferretdb)",
            log=log_path(),
        )
    run(["docker", "push", tag], step=f"docker push {tag}", log=log_path())
    digests = run(
        ["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", tag],
        step="docker image inspect",
        log=log_path(),
    )
    name = tag.rpartition(":")[0]
    for ref in json.loads(digests):
        if ref.startswith(f"{name}@sha256:"):
            return str(ref)
    raise BuildError(f"{tag} was pushed but Docker reports no digest for {name}")


def add_to_images_file(path: Path, ref: str) -> None:
    """Record the image as `ferretdb` in the images file (the other entries stay as they are)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BuildError(f"{path}: not a readable images file ({exc})") from exc
    if not isinstance(data, dict):
        raise BuildError(f"{path}: expected an object of image name -> {{ref: ...}}")
    name, _, digest = ref.partition("@")
    data[NAME] = {"ref": ref, "name": name, "digest": digest}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def database_image(images_file: Path) -> str:
    """Build, push and record the FerretDB image in images_file; return its reference."""
    ref = build_and_push(os.environ.get("MICROSHOP_REGISTRY", "kind-registry:5000"))
    add_to_images_file(images_file, ref)
    return ref
