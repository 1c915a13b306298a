"""The build stage's slimming: bytecode only and importable, this CPython's extensions, stripped."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bson import _cbson  # type: ignore[attr-defined]  # an extension module pymongo's wheel ships

from microshop_ci.build import slim

UNSTRIPPED = Path(_cbson.__file__)
THIS = f"_ext.cpython-{sys.version_info[0]}{sys.version_info[1]}-x86_64-linux-gnu.so"
RUNTIME = Path("/usr/local/lib/python3.11/dist-packages")


def _symbols(path: Path) -> bool:
    """Whether the ELF still has a symbol table (what strip removes)."""
    sections = subprocess.run(
        ["readelf", "-S", str(path)], check=False, capture_output=True, text=True
    )
    return ".symtab" in sections.stdout


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "dist-packages"
    package = root / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text("def answer() -> int:\n    return 42\n")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"stale")
    shutil.copyfile(
        UNSTRIPPED,
        package / f"_ext.cpython-{sys.version_info[0]}{sys.version_info[1]}-x86_64-linux-gnu.so",
    )
    shutil.copyfile(UNSTRIPPED, package / "_ext.cpython-39-x86_64-linux-gnu.so")
    shutil.copyfile(UNSTRIPPED, package / "_ext.abi3.so")
    (package / "data.txt").write_text("kept")
    return root


def test_slim_leaves_bytecode_only_this_cpythons_extensions_stripped(site: Path) -> None:
    assert _symbols(UNSTRIPPED)
    line = slim.slim(site, RUNTIME)
    assert line == (
        "slim: 2 modules as bytecode only, 1 extensions of another CPython removed,"
        " 2 shared objects stripped"
    )
    package = site / "pkg"
    assert sorted(p.name for p in package.iterdir()) == sorted(
        ["__init__.pyc", "mod.pyc", THIS, "_ext.abi3.so", "data.txt"]
    )
    assert not _symbols(package / THIS)
    assert not _symbols(package / "_ext.abi3.so")
    imported = subprocess.run(
        [sys.executable, "-c", "import pkg.mod; print(pkg.mod.answer(), pkg.mod.__file__,"
         " pkg.mod.answer.__code__.co_filename)"],
        cwd=site, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert imported.stdout == f"42 {package / 'mod.pyc'} {RUNTIME / 'pkg' / 'mod.py'}\n"


def test_slim_twice_gives_the_same_bytes(tmp_path: Path, site: Path) -> None:
    other = tmp_path / "again"
    shutil.copytree(site, other)
    slim.slim(site, RUNTIME)
    slim.slim(other, RUNTIME)
    for path in sorted(p for p in site.rglob("*") if p.is_file()):
        assert path.read_bytes() == (other / path.relative_to(site)).read_bytes(), path


def test_slim_refuses_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert slim.main([str(tmp_path / "nowhere"), str(RUNTIME)]) == 2
    assert slim.main([str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"{slim.USAGE}\n{slim.USAGE}\n"
