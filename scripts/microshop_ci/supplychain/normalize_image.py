"""Make a legacy-builder image's config reproducible: timestamps from SOURCE_DATE_EPOCH.

Docker's classic builder (the only one on Debian's docker.io: no buildx/BuildKit) writes the
build time into `created` and every history entry, the id of its last build container into
`container`/`container_config`, and its previous intermediate image into `config.Image`. The
layers themselves are reproducible (fixed mtimes, sorted tar), so rewriting just those config
fields makes the image ID, and the pushed digest, a pure function of the commit. Reads a
`docker save` archive, writes one for `docker load`.
"""

from __future__ import annotations

import argparse
import json
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from microshop_ci.supplychain.image_archive import write_layers_archive

VOLATILE = ("container", "container_config")


def normalize_config(config: dict[str, Any], epoch: int) -> dict[str, Any]:
    """Return the config with build-time fields replaced by the epoch (or dropped)."""
    created = datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    clean = {k: v for k, v in config.items() if k not in VOLATILE}
    clean["created"] = created
    clean["history"] = [{**h, "created": created} for h in config.get("history", [])]
    # The id of the builder's previous intermediate image (itself timestamped): not content.
    clean["config"] = {**config.get("config", {}), "Image": ""}
    return clean


def normalize(saved: Path, out: Path, tag: str, epoch: int) -> str:
    """Rewrite a single-image `docker save` archive; return the new image ID."""
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(saved) as archive:
        archive.extractall(tmp, filter="data")
        root = Path(tmp)
        manifest = json.loads((root / "manifest.json").read_text())
        if len(manifest) != 1:
            raise ValueError(f"{saved}: expected one image, found {len(manifest)}")
        config = json.loads((root / manifest[0]["Config"]).read_text())
        layers = [root / layer for layer in manifest[0]["Layers"]]
        body = json.dumps(normalize_config(config, epoch), sort_keys=True, separators=(",", ":"))
        return write_layers_archive(layers, out, tag, body.encode(), epoch)


def main(argv: list[str] | None = None) -> int:
    """CLI: normalize_image --saved FILE --out FILE --tag NAME:TAG --epoch N; prints the ID."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--saved", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tag", required=True)
    parser.add_argument("--epoch", type=int, required=True)
    args = parser.parse_args(argv)
    print(normalize(args.saved, args.out, args.tag, args.epoch))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
