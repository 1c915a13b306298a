"""The local cluster's database image: the pinned FerretDB binary FROM scratch, pushed by digest.

It joins the images file as `ferretdb`, so scripts/supply-chain signs it like the services and
microshop render-manifests (with k8s/components/ferretdb) deploys it by digest; Kyverno admits it
only because it is signed.
"""

from __future__ import annotations

from pathlib import Path

from microshop_ci.cluster import images
from microshop_ci.cluster.kind import tool
from microshop_ci.cluster.pins import pin

NAME = "ferretdb"
DOCKERFILE = """\
FROM scratch
COPY ferretdb /ferretdb
USER 65532:65532
ENTRYPOINT ["/ferretdb"]
"""


def database_image(images_file: Path) -> str:
    """Build, push and record the FerretDB image in images_file; return its reference."""
    tag = f"{images.registry()}/{NAME}:{pin('FERRETDB_VERSION')}"
    ref = images.build_and_push(tag, DOCKERFILE, {"ferretdb": Path(tool("ferretdb"))})
    images.add_to_images_file(images_file, NAME, ref)
    return ref
