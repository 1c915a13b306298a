"""Every exception class of the pipeline's code derives from MicroshopError; no two share a name."""

from __future__ import annotations

import ast
import builtins
from collections import defaultdict
from pathlib import Path

import pytest

from microshop_ci.core.errors import BuildError, MicroshopError, ToolError, UsageError
from microshop_ci.core.images import ImagesFileError
from microshop_ci.core.paths import SCRIPTS_DIR

PACKAGE = SCRIPTS_DIR / "microshop_ci"
ROOT = "MicroshopError"
# a base named like this but defined elsewhere (httpx.HTTPError, yaml.YAMLError) is an exception
EXCEPTION_SUFFIXES = ("Error", "Exception")


def base_name(node: ast.expr) -> str:
    """The class a base expression names: `ValueError` and `provenance.ProvenanceError` alike."""
    return node.attr if isinstance(node, ast.Attribute) else ast.unparse(node)


def classes(root: Path) -> dict[str, tuple[str, list[str]]]:
    """'path:Name' -> (Name, its bases' names) for every class in every module under root."""
    found: dict[str, tuple[str, list[str]]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                where = f"{path.relative_to(root)}:{node.name}"
                found[where] = (node.name, [base_name(b) for b in node.bases])
    return found


def is_builtin_exception(name: str) -> bool:
    value = getattr(builtins, name, None)
    return isinstance(value, type) and issubclass(value, BaseException)


def error_classes(root: Path) -> dict[str, bool]:
    """'path:Name' -> whether it derives from MicroshopError, for every exception class. A base
    is looked up by name; of a name defined twice, each definition must be rooted."""
    found = classes(root)
    definitions: dict[str, list[list[str]]] = defaultdict(list)
    for name, bases in found.values():
        definitions[name].append(bases)

    def is_error(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name not in definitions:
            return is_builtin_exception(name) or name.endswith(EXCEPTION_SUFFIXES)
        return name == ROOT or any(
            is_error(b, seen | {name})
            for bases in definitions[name]
            for b in bases
            if b not in seen
        )

    def is_rooted(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name == ROOT:
            return True
        return name in definitions and all(
            any(is_rooted(b, seen | {name}) for b in bases if b not in seen)
            for bases in definitions[name]
        )

    return {
        where: name == ROOT or any(is_rooted(b, frozenset({name})) for b in bases)
        for where, (name, bases) in found.items()
        if name == ROOT or any(is_error(b, frozenset({name})) for b in bases)
    }


def unrooted(root: Path) -> list[str]:
    return sorted(where for where, rooted in error_classes(root).items() if not rooted)


def shared_names(root: Path) -> dict[str, list[str]]:
    """Name -> the classes of that name, for every name two exception classes share."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for where in sorted(error_classes(root)):
        by_name[where.rpartition(":")[2]].append(where)
    return {name: wheres for name, wheres in by_name.items() if len(wheres) > 1}


@pytest.fixture
def stray_package(tmp_path: Path) -> Path:
    """A package with MicroshopError, classes rooted in it, and classes that are not."""
    (tmp_path / "errors.py").write_text(
        "class MicroshopError(Exception):\n    pass\n\n\n"
        "class UsageError(MicroshopError):\n    exit_code = 2\n"
    )
    (tmp_path / "stage").mkdir()
    (tmp_path / "stage" / "a.py").write_text(
        "import yaml\n\n\n"
        "class RootedError(errors.MicroshopError, ValueError):\n    pass\n\n\n"
        "class Grandchild(RootedError):\n    pass\n\n\n"
        "class StrayError(ValueError):\n    pass\n\n\n"
        "class StrayChild(StrayError):\n    pass\n\n\n"
        "class ParseProblem(yaml.YAMLError):\n    pass\n\n\n"
        "class Settings:\n    pass\n"
    )
    (tmp_path / "stage" / "b.py").write_text(
        "class UsageError(Exception):\n    pass\n\n\nclass Model(BaseModel):\n    pass\n"
    )
    return tmp_path


def test_every_exception_class_of_the_pipeline_derives_from_microshop_error() -> None:
    found = error_classes(PACKAGE)
    assert unrooted(PACKAGE) == []
    # the walk sees each way in: the root, directly, beside ValueError, through ToolError
    known = (
        "core/errors.py:MicroshopError",
        "sign/signer.py:SignError",
        "core/images.py:ImagesFileError",
        "bootstrap/dockerd.py:DockerdError",
    )
    assert [found.get(where) for where in known] == [True, True, True, True]


def test_no_two_exception_classes_of_the_pipeline_share_a_name() -> None:
    assert shared_names(PACKAGE) == {}


def test_the_walk_names_each_exception_class_outside_microshop_error(stray_package: Path) -> None:
    assert unrooted(stray_package) == [
        "stage/a.py:ParseProblem",
        "stage/a.py:StrayChild",
        "stage/a.py:StrayError",
        "stage/b.py:UsageError",
    ]
    assert sorted(w for w, rooted in error_classes(stray_package).items() if rooted) == [
        "errors.py:MicroshopError",
        "errors.py:UsageError",
        "stage/a.py:Grandchild",
        "stage/a.py:RootedError",
    ]


def test_the_walk_names_two_exception_classes_of_one_name(stray_package: Path) -> None:
    assert shared_names(stray_package) == {
        "UsageError": ["errors.py:UsageError", "stage/b.py:UsageError"]
    }


def test_a_users_mistake_exits_2_and_every_other_error_1() -> None:
    assert (MicroshopError.exit_code, UsageError.exit_code) == (1, 2)
    assert (ToolError.exit_code, BuildError.exit_code, ImagesFileError.exit_code) == (1, 1, 1)


def test_an_error_that_also_is_a_value_error_is_caught_as_either_with_its_message() -> None:
    for caught in (ValueError, MicroshopError):
        with pytest.raises(caught) as raised:
            raise ImagesFileError("images.json: no service api-service")
        assert str(raised.value) == "images.json: no service api-service"
