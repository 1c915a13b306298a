"""The set-up modules run with the system Python before the locked environment exists (and
dockerd runs the runtime wrapper with it), through the `microshop` program's own modules: they and
every pipeline module they import use only the standard library."""

from __future__ import annotations

import sys
from pathlib import Path

from microshop_ci.core.paths import SCRIPTS_DIR
from tests.scripts.test_layering import imported_names

ENTRY_POINTS = (
    "microshop_ci.__main__",
    "microshop_ci.cli",
    "microshop_ci.bootstrap.setup",
    "microshop_ci.bootstrap.dockerd",
    "microshop_ci.bootstrap.runtime_wrapper",
    "microshop_ci.core.uv",
)


def _path(module: str) -> Path | None:
    """The file of a microshop_ci module or package, None for a name that is neither."""
    base = SCRIPTS_DIR / module.replace(".", "/")
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(module: str) -> set[str]:
    """The names a module imports (`from X import m` of a module m counts X.m)."""
    path = _path(module)
    assert path is not None, module
    found = imported_names(path)
    return {name for name in found if not name.startswith("microshop_ci") or _path(name)}


def outside_stdlib(entry_points: tuple[str, ...]) -> set[str]:
    """The top-level packages, neither the standard library nor microshop_ci, that the entry
    points and the microshop_ci modules they reach import."""
    seen: set[str] = set()
    todo = list(entry_points)
    foreign: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for name in _imports(module):
            top = name.split(".")[0]
            if top == "microshop_ci":
                todo.append(name)
            elif top not in sys.stdlib_module_names and top != "__future__":
                foreign.add(top)
    return foreign


def test_the_set_up_modules_import_only_the_standard_library() -> None:
    assert outside_stdlib(ENTRY_POINTS) == set()


def test_the_scan_finds_a_third_party_import_behind_a_pipeline_module() -> None:
    # cluster.addons imports only the standard library and pipeline modules, one of which uses yaml
    assert outside_stdlib(("microshop_ci.cluster.addons",)) == {"yaml"}
