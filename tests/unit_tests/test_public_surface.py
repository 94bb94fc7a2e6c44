"""The public surface stays small enough to hold in your head (issue 26, item 3).

A module is public when no component of its path under src/ starts with ``_`` (``__init__`` aside): internal code
lives in private modules (``_catalog.py``) and private packages (``_inference/``), and a public package's
``__init__`` re-exports its API from them with an ``__all__``. A public name is a top-level ``def``, ``class`` or
assignment target of a public module whose name does not start with ``_``; imports, re-exports included, are not
definitions. The pinned ``__all__`` lists are docs/contract.md's Public API table (read by test_imports.py).
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit_tests.source_tree import PACKAGE, import_targets, module_files, nearest_module
from tests.unit_tests.test_imports import documented_api

MAX_PUBLIC_MODULES = 75
MAX_PUBLIC_NAMES = 80
MAX_MODULES = 75  # every module of the package, private ones included (issue 26: one home per concept)

# Every public module and its __all__ (sorted): the Public API table of docs/contract.md (the evaluators, package data
# from the repository root, are documented there too but are not a module under src/).
PUBLIC_ALL: dict[str, list[str]] = {
    module: names for module, names in documented_api().items() if module != "task_router.evaluators"
}


def is_public(path: Path) -> bool:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return not any(part.startswith("_") and part != "__init__" for part in parts)


def module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements run when the module is imported: its body, and the bodies of its top-level if / try / with
    (``if TYPE_CHECKING:`` included, for definitions); not the bodies of functions and classes."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            yield from module_level(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from module_level(node.body + node.orelse + node.finalbody)
            for handler in node.handlers:
                yield from module_level(handler.body)
        elif isinstance(node, ast.With):
            yield from module_level(node.body)


def defined_names(tree: ast.Module) -> list[str]:
    """Top-level def / class / assignment names, tuple targets included; imports are not definitions."""
    names: list[str] = []
    for node in module_level(tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [n.id for target in node.targets for n in ast.walk(target) if isinstance(n, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
        elif type(node).__name__ == "TypeAlias":  # `type X = ...` (Python 3.12+)
            names.append(node.name.id)  # type: ignore[attr-defined]
    return names


def public_surface() -> dict[str, list[str]]:
    """{public module: the public names it defines}."""
    return {
        name: sorted({n for n in defined_names(ast.parse(path.read_text(encoding="utf-8"))) if not n.startswith("_")})
        for name, path in module_files().items()
        if is_public(path)
    }


def test_the_public_surface_is_small() -> None:
    surface = public_surface()
    names = sum(len(defined) for defined in surface.values())
    assert len(surface) <= MAX_PUBLIC_MODULES, f"{len(surface)} public modules: {sorted(surface)}"
    assert names <= MAX_PUBLIC_NAMES, f"{names} public names: {surface}"


def test_the_package_has_few_modules() -> None:
    modules = module_files()
    assert len(modules) <= MAX_MODULES, f"{len(modules)} modules: merge the small ones that do one job together"


def test_the_public_modules_are_the_pinned_ones() -> None:
    assert sorted(public_surface()) == sorted(PUBLIC_ALL)


@pytest.mark.parametrize("module_name", sorted(PUBLIC_ALL))
def test_every_public_name_resolves(module_name: str) -> None:
    """(Each ``__all__`` equals its documented row: test_imports.py.)"""
    module = importlib.import_module(module_name)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{module_name}.{name}"


def imported_modules(tree: ast.Module, module: str, is_package: bool, known: set[str]) -> set[str]:
    """The package modules a module imports when it is loaded (not inside functions nor ``if TYPE_CHECKING:``)."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body + node.orelse + node.finalbody)
                for handler in node.handlers:
                    visit(handler.body)
            elif isinstance(node, ast.With):
                visit(node.body)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                found.update(import_targets(node, package, known))

    visit(tree.body)
    return {name for name in (nearest_module(n, known) for n in found) if name and name != module}


def test_no_import_cycle_between_the_package_modules() -> None:
    files = module_files()
    graph = {
        name: imported_modules(ast.parse(path.read_text(encoding="utf-8")), name, path.name == "__init__.py", {*files})
        for name, path in files.items()
    }
    cycles, done, path_of = [], set(), []

    def walk(name: str, on_path: dict[str, int]) -> None:
        on_path[name] = len(path_of)
        path_of.append(name)
        for dependency in sorted(graph[name]):
            if dependency in on_path:
                cycles.append([*path_of[on_path[dependency] :], dependency])
            elif dependency not in done:
                walk(dependency, on_path)
        path_of.pop()
        del on_path[name]
        done.add(name)

    for name in sorted(graph):
        if name not in done:
            walk(name, {})
    assert not cycles, "import cycles (module-level imports):\n" + "\n".join(" -> ".join(c) for c in cycles)
