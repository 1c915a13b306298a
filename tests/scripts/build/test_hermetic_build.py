"""The hermetic build installs only what uv.lock pins: any disagreement fails the image build."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.scripts.build.conftest import SCRIPTS, run

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def entries(requirements: str) -> list[str]:
    """Split a hashed requirements file into one string per requirement."""
    return [
        e for e in re.split(r"\n(?=[A-Za-z0-9])", requirements.strip()) if not e.startswith("#")
    ]


def other_version(req: str) -> str:
    """The same requirement and hashes, pinned to a version the lock does not have."""
    body = [e for e in entries(req) if not e.startswith("fastapi==")]
    fastapi = next(e for e in entries(req) if e.startswith("fastapi=="))
    return "\n".join([*body, re.sub(r"^fastapi==\S+", "fastapi==0.121.1", fastapi)]) + "\n"


def missing_dependency(req: str) -> str:
    """pydantic-core left out: a dependency of a pinned package that the file does not pin."""
    return "\n".join(e for e in entries(req) if not e.startswith("pydantic-core==")) + "\n"


def extra_package(req: str) -> str:
    """A package the lock does not have at all."""
    return req + "requests==2.32.3 \\\n    --hash=sha256:" + "0" * 64 + "\n"


@pytest.fixture(scope="module")
def context(docker: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared build context for api-service (locked requirements + wheels)."""
    root = tmp_path_factory.mktemp("contexts")
    run(
        SCRIPTS / "build-images",
        "--service",
        "api-service",
        "--prepare-only",
        "--context-dir",
        root,
    )
    return root


@pytest.fixture
def tamper() -> Iterator[Callable[[Path, bytes], None]]:
    """Overwrite a file of the module's shared context for one test; restored after it."""
    originals: dict[Path, bytes] = {}

    def write(path: Path, data: bytes) -> None:
        originals.setdefault(path, path.read_bytes())
        path.write_bytes(data)

    yield write
    for path, data in originals.items():
        path.write_bytes(data)


@pytest.fixture
def rebuild(context: Path) -> Callable[[], subprocess.CompletedProcess[str]]:
    """Build api-service again from the context as it is (--skip-prepare), whatever the outcome."""

    def build() -> subprocess.CompletedProcess[str]:
        return run(
            SCRIPTS / "build-images",
            "--service",
            "api-service",
            "--skip-prepare",
            "--context-dir",
            context,
            check=False,
        )

    return build


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (other_version, "No matching distribution found for fastapi==0.121.1"),
        (missing_dependency, "Hashes are required in --require-hashes mode"),
        (extra_package, "No matching distribution found for requests==2.32.3"),
    ],
    ids=["version-not-in-lock", "dependency-missing-from-lock", "package-not-in-lock"],
)
def test_build_fails_when_requirements_disagree_with_the_lock(
    context: Path,
    tamper: Callable[[Path, bytes], None],
    rebuild: Callable[[], subprocess.CompletedProcess[str]],
    change: Callable[[str], str],
    expected: str,
) -> None:
    requirements = context / "api-service" / "requirements.txt"
    tamper(requirements, change(requirements.read_text()).encode())
    result = rebuild()
    assert result.returncode != 0
    assert "docker build failed" in result.stderr
    assert expected in result.stderr


def test_build_fails_when_a_wheel_does_not_match_its_locked_hash(
    context: Path,
    tamper: Callable[[Path, bytes], None],
    rebuild: Callable[[], subprocess.CompletedProcess[str]],
) -> None:
    wheels = context / "api-service" / "wheels"
    tamper(next(wheels.glob("fastapi-*.whl")), next(wheels.glob("uvicorn-*.whl")).read_bytes())
    result = rebuild()
    assert result.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in result.stderr
