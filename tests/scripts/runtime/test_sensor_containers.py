"""The Docker engine lookup reads the kubelet's pod labels, the name and the image's registry
digest; a container the engine does not know, or no engine at all, gives empty fields. The engine
here is a stand-in answering the two Docker API paths on a unix socket (the real engine is used
by test_sensor_live.py)."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from microshop_ci.runtime.sensor.containers import ContainerInfo, DockerEngine

ID = "cd" * 32
DIGEST = "sha256:" + "12" * 32
ANSWERS = {
    f"/containers/{ID}/json": {
        "Name": "/k8s_api-service_api-1",
        "Image": "sha256:feed",
        "Config": {
            "Image": "registry.local/api-service:1.4.0",
            "Labels": {
                "io.kubernetes.pod.name": "api-1",
                "io.kubernetes.pod.namespace": "microshop",
            },
        },
    },
    "/images/sha256:feed/json": {"RepoDigests": [f"registry.local/api-service@{DIGEST}"]},
}


class Handler(BaseHTTPRequestHandler):
    """The stand-in engine: the canned answers above, 404 for anything else."""

    def do_GET(self) -> None:
        body = ANSWERS.get(self.path.split("?")[0])
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(body or {"message": "No such container"}).encode())

    def address_string(self) -> str:
        return "unix"  # a unix socket has no client address

    def log_message(self, format: str, *args: object) -> None:
        return


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def engine_socket(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "docker.sock")
    server = UnixServer(path, Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()


def test_a_known_container_is_described_from_its_labels_and_image(engine_socket: str) -> None:
    assert DockerEngine(engine_socket).describe(ID) == ContainerInfo(
        name="k8s_api-service_api-1",
        image="registry.local/api-service",
        digest=DIGEST,
        pod="api-1",
        namespace="microshop",
    )


def test_an_unknown_container_is_empty(engine_socket: str) -> None:
    assert DockerEngine(engine_socket).describe("ef" * 32) == ContainerInfo()


def test_no_engine_is_empty(tmp_path: Path) -> None:
    assert DockerEngine(str(tmp_path / "absent.sock")).describe(ID) == ContainerInfo()
