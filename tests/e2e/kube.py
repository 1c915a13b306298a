"""Reach the cluster the kubeconfig points at, and run probes from pods inside it."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream

from microshop_ci.gha.images import Image
from tests.conftest import stop_process
from tests.e2e.waiting import WaitTimeoutError, wait_for

PROBE_LABEL = "microshop.e2e/probe"
PROBE_PREFIX = "PROBE "

# Runs inside a probe pod (our own image: Python, no shell). argv: URL METHOD HEADERS_JSON [BODY]
HTTP_PROBE = """
import json, sys, urllib.error, urllib.request
url, method, headers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
body = sys.argv[4].encode() if len(sys.argv) > 4 else None
req = urllib.request.Request(url, method=method, data=body, headers=headers)
try:
    with urllib.request.urlopen(req, timeout=5) as resp:
        out = {"status": resp.status, "body": resp.read(8192).decode("utf-8", "replace")}
except urllib.error.HTTPError as exc:
    out = {"status": exc.code, "body": exc.read(8192).decode("utf-8", "replace")}
except Exception as exc:
    out = {"error": type(exc).__name__ + ": " + str(exc)}
print("PROBE " + json.dumps(out))
"""

# argv: MONGODB_URI. `ping` needs no authentication, so only the network and the mesh decide.
MONGO_PROBE = """
import json, sys
import pymongo
try:
    mongo = pymongo.MongoClient(sys.argv[1], serverSelectionTimeoutMS=5000,
                                connectTimeoutMS=5000, directConnection=True)
    mongo.admin.command("ping")
    out = {"status": 0, "body": "pong"}
except Exception as exc:
    out = {"error": type(exc).__name__ + ": " + str(exc)[:300]}
print("PROBE " + json.dumps(out))
"""

PROPAGATION_TIMEOUT = 120.0  # Istio and Kyverno config reach the data plane in seconds, not minutes
KEEP_ALIVE = "import time\nwhile True:\n    time.sleep(3600)\n"


@dataclass(frozen=True)
class Settings:
    """What the suite needs to know about the deployment, from E2E_* variables."""

    namespace: str = "microshop"
    outside_namespace: str = "microshop-e2e-outside"
    ingress_url: str = "http://127.0.0.1:8080"
    ingress_host: str = "shop.microshop.example"
    images_file: Path = Path("reports/images.json")
    api_sa: str = "api-service"
    client_sa: str = "client-service"
    mongodb_uri: str = "mongodb://mongodb:27017/"
    admin_email: str | None = None
    admin_password_file: Path | None = None

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Read the E2E_* variables; unset ones keep the defaults above."""
        env = dict(os.environ if env is None else env)
        ns = env.get("E2E_NAMESPACE", cls.namespace)
        password_file = env.get("E2E_ADMIN_PASSWORD_FILE")
        return cls(
            namespace=ns,
            outside_namespace=env.get("E2E_OUTSIDE_NAMESPACE", f"{ns}-e2e-outside"),
            ingress_url=env.get("E2E_INGRESS_URL", cls.ingress_url).rstrip("/"),
            ingress_host=env.get("E2E_INGRESS_HOST", cls.ingress_host),
            images_file=Path(env.get("E2E_IMAGES_FILE", str(cls.images_file))),
            api_sa=env.get("E2E_API_SA", cls.api_sa),
            client_sa=env.get("E2E_CLIENT_SA", cls.client_sa),
            mongodb_uri=env.get("E2E_MONGODB_URI", f"mongodb://mongodb.{ns}.svc:27017/"),
            admin_email=env.get("E2E_ADMIN_EMAIL") or None,
            admin_password_file=Path(password_file) if password_file else None,
        )

    def api_url(self, path: str) -> str:
        """api-service as seen from inside the cluster."""
        return f"http://api-service.{self.namespace}.svc:8000{path}"


def connect(timeout: float = 5.0) -> client.ApiClient | str:
    """An API client for the configured cluster, or one line saying why there is none."""
    try:
        # Read KUBECONFIG now (the client library reads it once, at import).
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
    except (config.ConfigException, OSError, TypeError):
        try:
            config.load_incluster_config()
        except config.ConfigException:
            return (
                "no cluster configured: no kubeconfig (KUBECONFIG, ~/.kube/config) and not in a pod"
            )
    cfg = client.Configuration.get_default_copy()
    cfg.retries = 0  # one bounded attempt: an unreachable API answers "no" within `timeout`
    api = client.ApiClient(cfg)
    try:
        client.VersionApi(api).get_code(_request_timeout=timeout)
    except Exception as exc:  # any failure here means "no reachable cluster"
        host = api.configuration.host
        return f"no cluster reachable at {host}: {type(exc).__name__}"
    return api


@dataclass(frozen=True)
class ProbeResult:
    """What a probe saw: an HTTP status (0 for a MongoDB pong) or a connection error."""

    status: int | None
    body: str = ""
    error: str | None = None

    @classmethod
    def parse(cls, output: str) -> ProbeResult:
        """Read the PROBE line a probe prints; anything else is an error of the probe itself."""
        for line in reversed(output.splitlines()):
            if line.startswith(PROBE_PREFIX):
                data: dict[str, Any] = json.loads(line.removeprefix(PROBE_PREFIX))
                return cls(data.get("status"), data.get("body", ""), data.get("error"))
        return cls(None, "", f"probe printed no result: {output[-300:]!r}")


def probe_pod_manifest(
    name: str,
    image: str,
    service_account: str,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
    command: list[str] | None = None,
) -> dict[str, Any]:
    """A pod that idles (or runs command) in our own signed image and obeys every pod-security rule.

    Its readiness probe always fails, so it never joins a Service's endpoints even when it
    carries a workload's labels (which NetworkPolicies and AuthorizationPolicies select on).
    """
    python = ["python3", "-c"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {**labels, PROBE_LABEL: "true"},
            "annotations": dict(annotations or {}),
        },
        "spec": {
            "serviceAccountName": service_account,
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 1,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65532,
                "runAsGroup": 65532,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "command": command or [*python, KEEP_ALIVE],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "48Mi"},
                        "limits": {"cpu": "250m", "memory": "128Mi"},
                    },
                    "readinessProbe": {
                        "exec": {"command": [*python, "raise SystemExit(1)"]},
                        "periodSeconds": 300,
                    },
                }
            ],
        },
    }


def _started(pod: Any) -> bool:
    if pod.status.phase != "Running":
        return False
    statuses = list(pod.status.container_statuses or [])
    statuses += list(pod.status.init_container_statuses or [])
    probe = [s for s in statuses if s.name == "probe"]
    proxy = [s for s in statuses if s.name == "istio-proxy"]
    return bool(probe and probe[0].state.running) and all(s.ready for s in proxy)


@dataclass
class ProbePod:
    """A running probe pod; `http` and `mongo_ping` exec a probe inside it."""

    core: client.CoreV1Api
    namespace: str
    name: str
    log: list[str] = field(default_factory=list)

    def wait_started(self, timeout: float = 180) -> None:
        """Wait until the probe container runs and the sidecar (if injected) is ready."""

        def started() -> bool:
            return _started(self.core.read_namespaced_pod(self.name, self.namespace))

        wait_for(
            started,
            what=f"probe pod {self.namespace}/{self.name} running",
            timeout=timeout,
            retry_on=(ApiException,),
        )

    def _exec(self, code: str, *args: str) -> ProbeResult:
        output = stream(
            self.core.connect_get_namespaced_pod_exec,
            self.name,
            self.namespace,
            container="probe",
            command=["python3", "-c", code, *args],
            stderr=True,
            stdin=False,
            stdout=True,
            tty=False,
        )
        result = ProbeResult.parse(str(output))
        self.log.append(f"{shlex.join(args[:2])} -> {result}")
        return result

    def http(
        self,
        url: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
    ) -> ProbeResult:
        """An HTTP request from inside this pod."""
        args = [url, method, json.dumps({"Content-Type": "application/json", **(headers or {})})]
        if body is not None:
            args.append(json.dumps(body))
        return self._exec(HTTP_PROBE, *args)

    def mongo_ping(self, uri: str) -> ProbeResult:
        """A MongoDB `ping` from inside this pod."""
        return self._exec(MONGO_PROBE, uri)


def eventually(
    probe: Callable[[], ProbeResult], holds: Callable[[ProbeResult], bool], what: str
) -> ProbeResult:
    """Wait (bounded) until the probe's result holds, then check it holds once more (stable)."""
    seen: list[ProbeResult] = []

    def attempt() -> ProbeResult | None:
        seen.append(probe())
        return seen[-1] if holds(seen[-1]) else None

    try:
        result = wait_for(
            attempt, what=what, timeout=PROPAGATION_TIMEOUT, interval=1.0, retry_on=(ApiException,)
        )
    except WaitTimeoutError as exc:
        raise WaitTimeoutError(f"{exc}; last probe result: {seen[-1] if seen else None}") from None
    again = probe()
    assert holds(again), f"{what}: held once, then not: {result} then {again}"
    return again


class ToolError(RuntimeError):
    """A pinned tool (crane, cosign) failed; carries the end of its error output."""


def run_tool(
    binary: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> str:
    """Run a tool, return its stdout; a failure raises ToolError naming the command."""
    result = subprocess.run(
        [binary, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    if result.returncode != 0:
        name = Path(binary).name
        raise ToolError(f"{name} {' '.join(args[:2])} failed: {result.stderr[-1500:]}")
    return result.stdout.strip()


def derive_image(crane: str, image: Image, label: str) -> str:
    """Push a copy of `image` with one more label; its new digest carries none of our signatures."""
    tag = f"{image.name}:e2e-{label}"
    run_tool(
        crane, "mutate", "--insecure", image.ref, "--label", f"microshop.e2e={label}", "--tag", tag
    )
    return f"{image.name}@{run_tool(crane, 'digest', '--insecure', tag)}"


def sign_with_new_key(cosign: str, ref: str, key_dir: Path) -> Path:
    """Sign `ref` (cosign's `.sig` format, no transparency log) with a fresh key pair in key_dir.

    Returns the public key. The cluster trusts only the run's own key, so it must refuse this.
    """
    env = {"COSIGN_PASSWORD": ""}
    run_tool(cosign, "generate-key-pair", env=env, cwd=key_dir)
    run_tool(
        cosign,
        "sign",
        "--key",
        str(key_dir / "cosign.key"),
        "--tlog-upload=false",
        "--use-signing-config=false",
        "--new-bundle-format=false",
        "--allow-http-registry",
        "--allow-insecure-registry",
        "--yes",
        ref,
        env=env,
    )
    return key_dir / "cosign.pub"


def _pump(stream_: Iterable[str], lines: queue.Queue[str]) -> None:
    for line in stream_:
        lines.put(line)


@contextmanager
def port_forward(namespace: str, target: str, port: int, timeout: float = 60) -> Iterator[str]:
    """`kubectl port-forward TARGET :PORT` for the block; yields http://127.0.0.1:LOCAL.

    Waits (bounded) for kubectl to report the local port it chose; stops it afterwards.
    """
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise ToolError("kubectl not found on PATH (scripts/lib.sh puts the built one there)")
    proc = subprocess.Popen(
        [kubectl, "port-forward", "-n", namespace, target, f":{port}", "--address", "127.0.0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()

        def forwarding() -> str | None:
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                return None
            match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+)", line)
            return f"http://127.0.0.1:{match.group(1)}" if match else None

        yield wait_for(forwarding, what=f"kubectl port-forward {target}", timeout=timeout)
    finally:
        stop_process(proc)
