"""The pipeline's packages are layered: core below the libraries, the libraries below the stages,
the stages below the orchestrator; nothing imports a layer above it and no two modules (or
packages) import each other, directly or round a loop."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from microshop_ci.core.paths import SCRIPTS_DIR

PACKAGE = SCRIPTS_DIR / "microshop_ci"
LAYERS = {
    "core": 0,
    # libraries: no stage of their own
    "k8s": 1, "osv": 1, "gha": 1, "browser": 1, "bootstrap": 1, "sigstore": 1, "runtime": 1,
    # one package per stage (and the cluster, benchmark and secret-store tools beside them)
    "checks": 2, "gates": 2, "build": 2, "sign": 2, "admission": 2, "smoke": 2,
    "cluster": 2, "bench": 2, "secrets": 2, "rescan": 2,
    "pipeline": 3,
    # the program: its subcommand table and the one parser over every package
    "commands": 4, "cli": 4, "__main__": 4,
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(SCRIPTS_DIR).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> set[str]:
    """Every name a file imports (a `from X import name` counts X and X.name)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def imports(path: Path, modules: set[str]) -> set[str]:
    """The microshop_ci modules a file imports (a `from X import name` of a module counts it)."""
    return imported_names(path) & modules


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    return {name: imports(path, modules) - {name} for name, path in files.items()}


def package(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_package_has_a_layer() -> None:
    packages = {package(m) for m in graph() if m != "microshop_ci"}
    assert packages == set(LAYERS)


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in graph().items()
        for target in targets
        if module != "microshop_ci"
        and target != "microshop_ci"
        and LAYERS[package(target)] > LAYERS[package(module)]
    )
    assert upward == []


def test_core_imports_nothing_of_the_pipeline_but_core() -> None:
    outside = sorted(
        f"{m} -> {t}"
        for m, targets in graph().items()
        if package(m) == "core"
        for t in targets
        if package(t) != "core"
    )
    assert outside == []


def test_no_two_modules_import_each_other() -> None:
    assert cycles(graph()) == []


def test_no_two_packages_import_each_other() -> None:
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph().items():
        packages[package(module)] |= {package(t) for t in targets} - {package(module)}
    assert cycles(packages) == []


def test_the_cycle_finder_finds_a_loop() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
