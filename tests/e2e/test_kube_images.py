"""The admission tests' image helpers against a real local registry (no cluster needed)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from microshop_ci.gha.images import Image
from tests.conftest import free_port, tool_path, wait_for_port
from tests.e2e.kube import ToolError, derive_image, run_tool, sign_with_new_key


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The pinned distribution registry on a free loopback port, data in a temporary folder."""
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    config = root / "config.yml"
    config.write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\nlog:\n  level: error\n"
    )
    with (root / "registry.log").open("wb") as log:
        proc = subprocess.Popen(
            [tool_path("registry"), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        wait_for_port(port, proc, "registry")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def pushed(registry: str, tmp_path_factory: pytest.TempPathFactory) -> Image:
    """A one-layer image pushed by crane, standing in for our api-service image."""
    layer = tmp_path_factory.mktemp("layer") / "layer.tar"
    data = b"microshop e2e\n"
    with tarfile.open(layer, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    crane = tool_path("crane")
    tag = f"{registry}/e2e/api-service:base"
    run_tool(crane, "append", "--insecure", "-f", str(layer), "-t", tag)
    digest = run_tool(crane, "digest", "--insecure", tag)
    return Image("api-service", f"{registry}/e2e/api-service", digest)


def _verify(ref: str, public_key: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            tool_path("cosign"),
            "verify",
            "--key",
            str(public_key),
            "--insecure-ignore-tlog=true",
            "--allow-http-registry",
            ref,
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_derived_image_has_a_new_digest_and_the_label(pushed: Image) -> None:
    crane = tool_path("crane")
    ref = derive_image(crane, pushed, "unsigned")
    name, _, digest = ref.partition("@")
    assert name == pushed.name
    assert digest.startswith("sha256:")
    assert digest != pushed.digest
    config = json.loads(run_tool(crane, "config", "--insecure", ref))
    assert config["config"]["Labels"] == {"microshop.e2e": "unsigned"}


def test_an_image_signed_with_a_new_key_verifies_only_with_that_key(
    pushed: Image, tmp_path: Path
) -> None:
    ref = derive_image(tool_path("crane"), pushed, "other-key")
    (tmp_path / "signer").mkdir()
    (tmp_path / "stranger").mkdir()
    public = sign_with_new_key(tool_path("cosign"), ref, tmp_path / "signer")
    assert _verify(ref, public).returncode == 0

    run_tool(
        tool_path("cosign"),
        "generate-key-pair",
        env={"COSIGN_PASSWORD": ""},
        cwd=tmp_path / "stranger",
    )
    assert _verify(ref, tmp_path / "stranger" / "cosign.pub").returncode != 0
    assert _verify(pushed.ref, public).returncode != 0  # the original was never signed


def test_a_tool_failure_names_the_command(registry: str) -> None:
    missing = Image("api-service", f"{registry}/e2e/absent", "sha256:" + "0" * 64)
    with pytest.raises(ToolError, match=r"^crane mutate --insecure failed: "):
        derive_image(tool_path("crane"), missing, "unsigned")
