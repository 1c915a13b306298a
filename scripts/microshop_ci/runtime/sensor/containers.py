"""A container id's pod, namespace, name and image, asked of the container engine once per id.

The pod and namespace are the `io.kubernetes.pod.*` labels the kubelet puts on every container
it starts (through containerd's CRI as through Docker), which is also where Falco's container
plugin reads them. This host's engine is Docker (its API on the unix socket); the cluster's
DaemonSet asks containerd's CRI the same question.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from microshop_ci.runtime.sensor.events import HOST, Event

DOCKER_SOCKET = "/var/run/docker.sock"
POD_LABEL = "io.kubernetes.pod.name"
NAMESPACE_LABEL = "io.kubernetes.pod.namespace"
LOOKUP_TIMEOUT = 2.0
RETRY = 5.0  # seconds before an unknown container id is asked about again


@dataclass(frozen=True)
class ContainerInfo:
    """What Falco's container.* and k8s.* fields say about one container."""

    name: str | None = None
    image: str | None = None
    digest: str | None = None
    pod: str | None = None
    namespace: str | None = None

    def fields(self) -> dict[str, str | None]:
        """The Falco fields, by name."""
        return {
            "container.name": self.name,
            "container.image.repository": self.image,
            "container.image.digest": self.digest,
            "k8s.pod.name": self.pod,
            "k8s.ns.name": self.namespace,
        }


class Engine(Protocol):
    """A container engine that can describe a container by id."""

    def describe(self, container_id: str) -> ContainerInfo:
        """The container's metadata; an empty ContainerInfo when the engine does not know it."""
        ...


class DockerEngine:
    """The Docker Engine API over its unix socket."""

    def __init__(self, socket: str = DOCKER_SOCKET) -> None:
        transport = httpx.HTTPTransport(uds=socket)
        self.client = httpx.Client(
            transport=transport, base_url="http://docker", timeout=LOOKUP_TIMEOUT
        )

    def _get(self, path: str) -> dict[str, Any] | None:
        """One GET, None on any failure (the event is still reported, with `<NA>` fields)."""
        try:
            response = self.client.get(path)
        except httpx.HTTPError:
            return None
        if response.status_code != httpx.codes.OK:
            return None
        body = response.json()
        return body if isinstance(body, dict) else None

    def describe(self, container_id: str) -> ContainerInfo:
        """Labels, name and image of the container; the image's registry digest if it has one."""
        container = self._get(f"/containers/{container_id}/json")
        if container is None:
            return ContainerInfo()
        config = container.get("Config") or {}
        labels = config.get("Labels") or {}
        image = self._get(f"/images/{container.get('Image', '')}/json") or {}
        digests = [d.split("@", 1)[1] for d in image.get("RepoDigests") or [] if "@" in d]
        repository = str(config.get("Image") or "").rsplit(":", 1)[0] or None
        return ContainerInfo(
            name=str(container.get("Name", "")).lstrip("/") or None,
            image=repository,
            digest=digests[0] if digests else None,
            pod=labels.get(POD_LABEL),
            namespace=labels.get(NAMESPACE_LABEL),
        )


class Enricher:
    """Adds each event's container fields, asking the engine once per container id (a container
    the engine does not know yet is asked again, at most every RETRY seconds)."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.clock = clock
        self.known: dict[str, ContainerInfo] = {}
        self.unknown: dict[str, float] = {}

    def info(self, container_id: str) -> ContainerInfo:
        """The cached description, or the engine's answer."""
        if container_id in self.known:
            return self.known[container_id]
        asked = self.unknown.get(container_id)
        if asked is not None and self.clock() - asked < RETRY:
            return ContainerInfo()
        info = self.engine.describe(container_id)
        if info == ContainerInfo():
            self.unknown[container_id] = self.clock()
        else:
            self.known[container_id] = info
            self.unknown.pop(container_id, None)
        return info

    def enrich(self, event: Event) -> Event:
        """The event with container.* and k8s.* set (None where unknown; none for the host)."""
        container_id = str(event.get("container.full_id") or HOST)
        if container_id != HOST:
            event.update(self.info(container_id).fields())
        return event
