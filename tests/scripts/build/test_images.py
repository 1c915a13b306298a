"""Each service image: non-root, no shell, read-only root filesystem, shell-less healthcheck."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.scripts.build.conftest import SERVICES, ChainRun, run

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HARDENING = (
    "--read-only",
    "--tmpfs",
    "/tmp:rw,noexec,nosuid,size=16m",  # noqa: S108 - the container's tmpfs
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    # Health checked every second so the test does not wait for the image's 10 s interval;
    # the command run is still the image's own HEALTHCHECK.
    "--health-interval",
    "1s",
    "--health-start-period",
    "30s",
    "--health-retries",
    "30",
)


def inspect(ref: str) -> dict[str, object]:
    """`docker image inspect` of an image."""
    data: list[dict[str, object]] = json.loads(run("docker", "image", "inspect", ref).stdout)
    return data[0]


def local_tag(chain: ChainRun, service: str) -> str:
    """The local tag of a built image (the same image ID as the pushed digest)."""
    return str(chain.images[service]["local_tag"])


@pytest.mark.parametrize("service", SERVICES)
def test_image_runs_as_numeric_nonroot_user(chain: ChainRun, service: str) -> None:
    config = inspect(local_tag(chain, service))["Config"]
    assert isinstance(config, dict)
    assert config["User"] == "65532:65532"
    uid = run(
        "docker",
        "run",
        "--rm",
        "--entrypoint",
        "python3",
        local_tag(chain, service),
        "-c",
        "import os; print(os.getuid(), os.getgid())",
    ).stdout.split()
    assert uid == ["65532", "65532"]


@pytest.mark.parametrize("service", SERVICES)
def test_image_has_no_shell_and_no_package_tools(chain: ChainRun, service: str) -> None:
    probe = (
        "import os, shutil; print(sorted(p for p in ('/bin/sh', '/bin/bash', '/bin/dash', "
        "'/usr/bin/apt-get', '/usr/bin/dpkg') if os.path.lexists(p)), "
        "shutil.which('pip'), shutil.which('pip3'), "
        "__import__('importlib.util').util.find_spec('pip'))"
    )
    out = run(
        "docker", "run", "--rm", "--entrypoint", "python3", local_tag(chain, service), "-c", probe
    )
    assert out.stdout.strip() == "[] None None None"
    shell = run(
        "docker",
        "run",
        "--rm",
        "--entrypoint",
        "/bin/sh",
        local_tag(chain, service),
        "-c",
        "true",
        check=False,
    )
    assert shell.returncode != 0
    assert "no such file or directory" in shell.stderr.lower()


@pytest.mark.parametrize("service", SERVICES)
def test_image_carries_oci_labels_and_exec_form_healthcheck(chain: ChainRun, service: str) -> None:
    config = inspect(local_tag(chain, service))["Config"]
    assert isinstance(config, dict)
    labels = config["Labels"]
    # The commit the images were built from (HEAD may move while the session runs).
    revision = str(chain.images[service]["revision"])
    kind = run("git", "-C", str(Path(__file__).parents[3]), "cat-file", "-t", revision)
    assert kind.stdout.strip() == "commit"
    assert labels["org.opencontainers.image.title"] == service
    assert labels["org.opencontainers.image.revision"] == revision
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["org.opencontainers.image.created"].endswith("Z")
    module = service.replace("-", "_")
    assert config["Healthcheck"]["Test"] == ["CMD", "python3", "-m", f"{module}.healthcheck"]
    assert config["Entrypoint"] == ["python3", "-m", module]


def wait_healthy(container: str, url: str, timeout: float = 60) -> tuple[str, int]:
    """Wait for Docker's health status; return it with the status code of GET url."""
    deadline = time.monotonic() + timeout
    status = "starting"
    while time.monotonic() < deadline:
        state = json.loads(run("docker", "inspect", "-f", "{{json .State}}", container).stdout)
        if not state["Running"]:
            logs = run("docker", "logs", container, check=False)
            pytest.fail(f"{container} exited {state['ExitCode']}:\n{logs.stdout}{logs.stderr}")
        status = state["Health"]["Status"]
        if status != "starting":
            break
        time.sleep(0.5)
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local test URL
        return status, int(response.status)


@pytest.fixture(scope="module")
def start_hardened(chain: ChainRun, secrets_dir: Path) -> Iterator[Callable[..., tuple[str, int]]]:
    """Start a service's image hardened, on the host network (it reaches the session's FerretDB)
    with the secrets mounted and HOST/PORT set; returns its name and port. Removed at the end."""
    started: list[str] = []

    def start(service: str, **env: str) -> tuple[str, int]:
        port = free_port()
        name = f"test-{service}-{port}"
        settings = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
        run(
            "docker",
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "host",
            *HARDENING,
            "-v",
            f"{secrets_dir}:/run/secrets:ro",
            *(arg for key, value in settings.items() for arg in ("-e", f"{key}={value}")),
            local_tag(chain, service),
        )
        started.append(name)
        return name, port

    yield start
    for name in started:
        run("docker", "rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def api_container(
    start_hardened: Callable[..., tuple[str, int]], mongodb_uri: str
) -> tuple[str, int]:
    """api-service hardened, on the host network so it reaches the session's FerretDB."""
    return start_hardened(
        "api-service",
        MONGODB_URI=mongodb_uri,
        MONGODB_DATABASE="imagetest",
        JWT_PRIVATE_KEY_FILE="/run/secrets/jwt.pem",
    )


def test_api_service_is_healthy_with_read_only_rootfs(api_container: tuple[str, int]) -> None:
    name, port = api_container
    assert wait_healthy(name, f"http://127.0.0.1:{port}/health") == ("healthy", 200)


def test_client_service_is_healthy_with_read_only_rootfs(
    start_hardened: Callable[..., tuple[str, int]], api_container: tuple[str, int]
) -> None:
    _, api_port = api_container
    name, port = start_hardened(
        "client-service",
        API_BASE_URL=f"http://127.0.0.1:{api_port}",
        SESSION_SECRET_FILE="/run/secrets/session_secret",
    )
    assert wait_healthy(name, f"http://127.0.0.1:{port}/health") == ("healthy", 200)
