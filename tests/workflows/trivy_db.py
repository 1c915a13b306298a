"""An empty Trivy vulnerability database, pushed to a loopback registry for act's release run.

Trivy's database cannot be downloaded here, so release.yml's Trivy gate fails closed (as it
must). To carry the release run past the gate to the jobs after it (outputs, the sign matrix,
artifacts between jobs), the test serves Trivy a database with no advisories at all, through
Trivy's own `TRIVY_DB_REPOSITORY`: the gate's real `trivy image` scan runs and finds nothing.
This proves the workflow's plumbing, never that the images are free of known CVEs.

The database is a valid empty bbolt file (what bbolt's own `init` writes: two meta pages, an empty
freelist, an empty root bucket) plus the metadata.json of schema version 2, as one
`application/vnd.aquasec.trivy.db.layer.v1.tar+gzip` layer of an OCI artifact tagged `2`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import json
import struct
import tarfile
import urllib.request

PAGE = 4096
MAGIC, VERSION = 0xED0CDAED, 2
META, FREELIST, LEAF = 0x04, 0x10, 0x02
LAYER_TYPE = "application/vnd.aquasec.trivy.db.layer.v1.tar+gzip"
CONFIG_TYPE = "application/vnd.aquasec.trivy.config.v1+json"
TIMEOUT = 30


def _fnv64a(data: bytes) -> int:
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return value


def _page(pgid: int, flags: int, body: bytes = b"") -> bytes:
    return (struct.pack("<QHHI", pgid, flags, 0, 0) + body).ljust(PAGE, b"\0")


def empty_bolt() -> bytes:
    """Four pages: meta (txid 0 and 1), freelist (page 2), the empty root bucket (page 3)."""
    metas = []
    for txid in (0, 1):
        fields = struct.pack("<IIIIQQQQQ", MAGIC, VERSION, PAGE, 0, 3, 0, 2, 4, txid)
        metas.append(_page(txid, META, fields + struct.pack("<Q", _fnv64a(fields))))
    return b"".join([*metas, _page(2, FREELIST), _page(3, LEAF)])


def db_layer(now: dt.datetime) -> bytes:
    """db.tar.gz: trivy.db and metadata.json (schema 2, next update a day away)."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    metadata = {
        "Version": 2,
        "NextUpdate": (now + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "UpdatedAt": stamp,
        "DownloadedAt": "0001-01-01T00:00:00Z",
    }
    buffer = io.BytesIO()
    files = {"trivy.db": empty_bolt(), "metadata.json": json.dumps(metadata).encode()}
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as archive,
    ):
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _request(url: str, method: str, data: bytes = b"", content_type: str = "") -> str:
    headers = {"Content-Type": content_type} if content_type else {}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:  # noqa: S310 (loopback)
        return str(reply.headers.get("Location", ""))


def _blob(base: str, repo: str, data: bytes) -> str:
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    location = _request(f"{base}/v2/{repo}/blobs/uploads/", "POST")
    target = location if location.startswith("http") else f"{base}{location}"
    sep = "&" if "?" in target else "?"
    _request(f"{target}{sep}digest={digest}", "PUT", data, "application/octet-stream")
    return digest


def push_empty_db(address: str, repo: str = "aquasec/trivy-db") -> str:
    """Push the artifact to http://ADDRESS/REPO:2; return `ADDRESS/REPO` for TRIVY_DB_REPOSITORY."""
    base = f"http://{address}"
    layer = db_layer(dt.datetime.now(dt.UTC))
    config = b"{}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": CONFIG_TYPE, "digest": _blob(base, repo, config),
                   "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": _blob(base, repo, layer),
                    "size": len(layer), "annotations": {
                        "org.opencontainers.image.title": "db.tar.gz"}}],
    }  # fmt: skip
    _request(
        f"{base}/v2/{repo}/manifests/2", "PUT", json.dumps(manifest).encode(),
        "application/vnd.oci.image.manifest.v1+json",
    )  # fmt: skip
    return f"{address}/{repo}"
