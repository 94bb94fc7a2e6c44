"""The package's source read as text (ast): its module files and what their import statements name. Shared by the
tests of the public surface, of import cycles and of what the learned router's routing part may import."""

from __future__ import annotations

import ast
from pathlib import Path

import task_router

PACKAGE = Path(task_router.__file__).resolve().parent  # the package under test


def module_files() -> dict[str, Path]:
    """{dotted name: file} of every module of the package; a package is named by its ``__init__.py``."""
    files = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return files


def import_targets(node: ast.Import | ast.ImportFrom, package: str, known: set[str]) -> list[str]:
    """The dotted names an import statement of a module of ``package`` names: each imported module, and for
    ``from X import y`` the module ``X.y`` when it is one of the package's modules ``known``, else ``X`` (relative
    imports resolved). Importing ``X.y`` also runs ``X``'s ``__init__``: callers that need it add parents."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    return [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]


def nearest_module(name: str, known: set[str]) -> str | None:
    """``name`` or its closest parent among the package's modules ``known`` (None: outside the package)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None
