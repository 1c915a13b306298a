"""Bring the kind cluster and its registry up and down (scripts/kind-up, scripts/kind-down).

The runner, the kind node and in-cluster clients (Kyverno) reach the registry under ONE name,
MICROSHOP_REGISTRY (kind-registry:5000): a container on the `kind` network running the pinned
distribution binary (FROM scratch, nothing pulled), published on 127.0.0.1 and named in
/etc/hosts for the runner; containerd on the node gets a hosts.toml for plain HTTP.
The node image is kind's pinned upstream image on GitHub and the one built here from source
(microshop_ci.cluster.nodeimage) elsewhere: `--node-image upstream|local`.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from microshop_ci.cluster import components, nodeimage
from microshop_ci.cluster.pins import pin
from microshop_ci.cluster.run import as_root, run
from microshop_ci.core.gobuild import REPO_ROOT, BuildError, build, cache_root
from microshop_ci.core.tools import ToolError, pinned_tool

KIND_CONFIG = REPO_ROOT / "scripts" / "cluster-src" / "kind-config.yaml"
HOSTS = Path("/etc/hosts")
HOSTS_MARK = "# microshop kind registry"


@dataclass(frozen=True)
class ClusterSettings:
    """Names of the cluster and its registry (KIND_CLUSTER_NAME, MICROSHOP_REGISTRY)."""

    name: str = "microshop"
    registry: str = "kind-registry:5000"

    @classmethod
    def from_env(cls) -> ClusterSettings:
        """Read the environment; a registry must be HOST:PORT."""
        registry = os.environ.get("MICROSHOP_REGISTRY", cls.registry)
        host, _, port = registry.rpartition(":")
        if not host or not port.isdigit():
            raise BuildError(f"MICROSHOP_REGISTRY must be HOST:PORT, got {registry!r}")
        return cls(os.environ.get("KIND_CLUSTER_NAME", cls.name), registry)

    @property
    def registry_host(self) -> str:
        """The registry's container name and host name."""
        return self.registry.rpartition(":")[0]

    @property
    def registry_port(self) -> str:
        """The port it listens on, in the container and on 127.0.0.1."""
        return self.registry.rpartition(":")[2]


def log_path() -> Path:
    """Where bring-up and tear-down write the output of every command they run."""
    return cache_root() / "cluster" / "kind.log"


def tool(name: str) -> str:
    """A pinned tool (kind, registry, helm): core.tools.pinned_tool, its failure a BuildError."""
    try:
        return pinned_tool(name)
    except ToolError as err:
        raise BuildError(str(err)) from None


def kubectl() -> str:
    """The kubectl built from the pinned Kubernetes source (with the local node image, or alone by
    scripts/build-kubectl: the cluster's own version) when one exists, else the one on PATH."""
    for built in (components.KUBERNETES.binary("kubectl"), components.KUBECTL.binary("kubectl")):
        if built.exists():
            return str(built)
    found = shutil.which("kubectl")
    if found:
        return found
    raise BuildError(
        "kubectl not found on PATH and not built yet"
        " (scripts/build-kubectl, microshop cluster node-image)"
    )


def build_kubectl() -> str:
    """Build kubectl alone from k8s.io/kubernetes at KUBERNETES_VERSION (Go's module proxy and
    checksum database authenticate the source: no binary is downloaded), check that it reports
    that version, and return its path."""
    binary = build(components.KUBECTL) / "kubectl"
    reported = run([str(binary), "version", "--client", "-o", "json"], step="kubectl", log=None)
    try:
        version = json.loads(reported)["clientVersion"]["gitVersion"]
    except (json.JSONDecodeError, KeyError, TypeError):
        version = None
    if version != components.KUBECTL.version:
        raise BuildError(
            f"{binary} reports {version!r}, not the pinned {components.KUBECTL.version}"
        )
    return str(binary)


def default_node_source() -> str:
    """upstream on GitHub's runners (they pull kind's image), local everywhere else."""
    return "upstream" if os.environ.get("GITHUB_ACTIONS") == "true" else "local"


def node_image(source: str) -> str:
    """The node image to start: kind's pinned one, or the one built here from source."""
    if source == "upstream":
        return pin("KIND_NODE_IMAGE")
    return nodeimage.build_node_image()


def clusters(kind: str) -> list[str]:
    """The kind clusters that exist."""
    return run([kind, "get", "clusters"], step="kind get clusters", log=log_path()).split()


def _docker_quiet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # nosec B603, B607 -- fixed docker argv
        ["docker", *args], capture_output=True, text=True, check=False
    )


def network_gateway() -> str:
    """The IPv4 gateway of kind's Docker network: the host as the cluster's pods reach it (the
    local Sigstore listens there for Kyverno). BuildError when there is no such network."""
    inspected = _docker_quiet(
        "network", "inspect", "kind", "--format", "{{range .IPAM.Config}}{{.Gateway}} {{end}}"
    )
    ipv4 = [g for g in inspected.stdout.split() if g.count(".") == 3]
    if inspected.returncode != 0 or not ipv4:
        raise BuildError(f"no IPv4 gateway on Docker's kind network: {inspected.stderr.strip()}")
    return ipv4[0]


def create_cluster(settings: ClusterSettings, image: str) -> None:
    """kind create cluster with the project's config, unless it exists already."""
    kind = tool("kind")
    if settings.name in clusters(kind):
        return
    run(
        [
            kind,
            "create",
            "cluster",
            "--name",
            settings.name,
            "--image",
            image,
            "--wait",
            "300s",
            "--config",
            str(KIND_CONFIG),
        ],
        step=f"kind create cluster {settings.name} ({image})",
        log=log_path(),
    )


def registry_image() -> str:
    """The registry image: the pinned distribution binary FROM scratch, built once."""
    name = f"microshop/kind-registry:{pin('REGISTRY_VERSION')}"
    if _docker_quiet("image", "inspect", name).returncode == 0:
        return name
    with tempfile.TemporaryDirectory() as tmp:
        context = Path(tmp)
        shutil.copyfile(tool("registry"), context / "registry")
        (context / "registry").chmod(0o755)
        (context / "config.yml").write_text(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
            "    rootdirectory: /var/lib/registry\n  delete:\n    enabled: true\n"
            "http:\n  addr: :5000\n"
        )
        (context / "Dockerfile").write_text(
            "FROM scratch\nCOPY registry /registry\nCOPY config.yml /config.yml\n"
            'USER 65532:65532\nENTRYPOINT ["/registry", "serve", "/config.yml"]\n'
        )
        run(
            ["docker", "build", "--quiet", "--network", "none", "-t", name, str(context)],
            step="docker build (registry image)",
            log=log_path(),
        )
    return name


def start_registry(settings: ClusterSettings) -> None:
    """The registry container on the kind network, published on 127.0.0.1:PORT."""
    host, port = settings.registry_host, settings.registry_port
    running = _docker_quiet("ps", "-q", "--filter", f"name=^{host}$").stdout.strip()
    if running:
        return
    image = registry_image()
    _docker_quiet("rm", "-f", host)
    run(
        [
            "docker",
            "run",
            "-d",
            "--restart=always",
            "--name",
            host,
            "--network",
            "kind",
            "--mount",
            "type=tmpfs,destination=/var/lib/registry,tmpfs-mode=1777",
            "-e",
            f"REGISTRY_HTTP_ADDR=:{port}",
            "-p",
            f"127.0.0.1:{port}:{port}",
            image,
        ],
        step=f"docker run {host} (is 127.0.0.1:{port} taken?)",
        log=log_path(),
    )


def map_registry_name(settings: ClusterSettings) -> None:
    """Name the registry 127.0.0.1 in /etc/hosts for this machine (once, marked)."""
    host = settings.registry_host
    lines = HOSTS.read_text().splitlines()
    if any(line.split()[1:2] == [host] and line.startswith("127.0.0.1") for line in lines if line):
        return
    run(
        as_root(["tee", "-a", str(HOSTS)]),
        stdin=f"127.0.0.1 {host} {HOSTS_MARK}\n".encode(),
        step="map the registry name in /etc/hosts",
        log=log_path(),
    )


def unmap_registry_name() -> None:
    """Remove the line map_registry_name added (only that line)."""
    text = HOSTS.read_text()
    kept = [line for line in text.splitlines(keepends=True) if HOSTS_MARK not in line]
    if len(kept) != len(text.splitlines(keepends=True)):
        run(
            as_root(["tee", str(HOSTS)]),
            stdin="".join(kept).encode(),
            step="unmap the registry name in /etc/hosts",
            log=log_path(),
        )


def configure_nodes(settings: ClusterSettings) -> None:
    """Tell containerd on every node that the registry speaks plain HTTP."""
    kind = tool("kind")
    nodes = run(
        [kind, "get", "nodes", "--name", settings.name], step="kind get nodes", log=log_path()
    ).split()
    hosts_toml = f'[host."http://{settings.registry}"]\n  capabilities = ["pull", "resolve"]\n'
    folder = f"/etc/containerd/certs.d/{settings.registry}"
    for node in nodes:
        run(["docker", "exec", node, "mkdir", "-p", folder], step="mkdir certs.d", log=log_path())
        run(
            ["docker", "exec", "-i", node, "cp", "/dev/stdin", f"{folder}/hosts.toml"],
            stdin=hosts_toml.encode(),
            step=f"hosts.toml on {node}",
            log=log_path(),
        )


def announce_registry(settings: ClusterSettings) -> None:
    """KEP-1755: tell tools where the cluster's local registry is."""
    manifest = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local-registry-hosting\n"
        "  namespace: kube-public\ndata:\n  localRegistryHosting.v1: |\n"
        f'    host: "{settings.registry}"\n    hostFromContainerRuntime: "{settings.registry}"\n'
        f'    hostFromClusterNetwork: "{settings.registry}"\n'
    )
    run(
        [kubectl(), "apply", "-f", "-"],
        stdin=manifest.encode(),
        step="kubectl apply local-registry-hosting",
        log=log_path(),
    )


def wait_for_registry(settings: ClusterSettings, timeout: float = 60) -> None:
    """Poll http://REGISTRY/v2/ until it answers, or fail naming the container's logs."""
    deadline = time.monotonic() + timeout
    url = f"http://{settings.registry}/v2/"
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection(settings.registry, timeout=2)
        try:
            connection.request("GET", "/v2/")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(1)
    raise BuildError(
        f"the registry did not answer at {url} within {timeout:.0f} s "
        f"(docker logs {settings.registry_host})"
    )


def up(settings: ClusterSettings, source: str) -> None:
    """Cluster, registry, name mapping, node configuration; idempotent."""
    image = node_image(source)
    create_cluster(settings, image)
    start_registry(settings)
    map_registry_name(settings)
    configure_nodes(settings)
    announce_registry(settings)
    wait_for_registry(settings)


def down(settings: ClusterSettings) -> None:
    """Delete the cluster; with no kind cluster left, the registry, network and /etc/hosts line."""
    kind = tool("kind")
    if settings.name in clusters(kind):
        run(
            [kind, "delete", "cluster", "--name", settings.name],
            step="kind delete cluster",
            log=log_path(),
        )
    if clusters(kind):
        return  # another kind cluster still uses the registry
    _docker_quiet("rm", "-f", "-v", settings.registry_host)
    if not _docker_quiet("ps", "-aq", "--filter", "network=kind").stdout.strip():
        _docker_quiet("network", "rm", "kind")
    unmap_registry_name()
