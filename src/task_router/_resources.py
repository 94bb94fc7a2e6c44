"""What is installed: the package's data folders (``prompts/``, ``evaluators/``) and the optional extras.

``prompts/`` (router prompt files) and ``evaluators/`` (LangSmith evaluators) have their one home at the repository
root. The wheel carries them as package data (``task_router/prompts``, ``task_router/evaluators``: hatch's
``force-include``); a source checkout (an editable install, or ``src`` on the path) has no copy in the package, so
:func:`data_folder` gives the root folder there, and the live files are read. ``import task_router.evaluators``
works in both: from the wheel the folder is an ordinary subpackage; in a checkout :func:`expose_checkout_packages`
(run by ``import task_router``) adds an import finder for that one name, consulted only after Python's own finders
have not found it.

Optional dependencies: import a package of an extra, or fail with the ``pip install`` line that brings it. The core
(``pip install langgraph-task-router``) imports none of the extras' packages at module level; the code that needs
one imports it through :func:`require` when it runs.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from types import ModuleType

DATA_FOLDERS = ("prompts", "evaluators")
#: The package's own folder and the repository root of a source checkout (src/task_router -> the root).
_PACKAGE = Path(__file__).resolve().parent
_ROOT = _PACKAGE.parents[1]


def checkout_root() -> Path | None:
    """The repository root when the package runs from a source checkout (its ``pyproject.toml`` and data folders
    beside ``src/``), else None (an installed wheel)."""
    is_checkout = _PACKAGE.parent.name == "src" and (_ROOT / "pyproject.toml").is_file()
    return _ROOT if is_checkout and all((_ROOT / name).is_dir() for name in DATA_FOLDERS) else None


def data_folder(name: str) -> Traversable:
    """The folder ``name`` (``"prompts"`` or ``"evaluators"``): the package data in a wheel, the repository root's
    folder in a checkout.

    Example:
        >>> data_folder("prompts").joinpath("zero-shot.yaml").is_file()
        True
    """
    if name not in DATA_FOLDERS:
        raise ValueError(f"no data folder {name!r}: the package has {list(DATA_FOLDERS)}")
    packaged = files("task_router").joinpath(name)
    if packaged.is_dir():
        return packaged
    root = checkout_root()
    if root is None:
        raise FileNotFoundError(
            f"task_router/{name} is missing from the installed package: reinstall langgraph-task-router"
        )
    return root / name


def read_prompt(filename: str) -> str:
    """The text of a prompt file of ``prompts/``.

    Example:
        >>> "system" in read_prompt("zero-shot.yaml")
        True
    """
    folder = data_folder("prompts")
    path = folder.joinpath(filename)
    if not path.is_file():
        shipped = sorted(p.name for p in folder.iterdir() if p.name.endswith(".yaml"))
        raise FileNotFoundError(
            f"no prompt file {filename!r} in prompts/; the shipped ones are {shipped} "
            "(reinstall langgraph-task-router if one of them is missing)"
        )
    return path.read_text(encoding="utf-8")


class _CheckoutFinder(importlib.abc.MetaPathFinder):
    """Finds ``task_router.evaluators`` in the repository root's ``evaluators/`` (its submodules are then found
    through the package's ``__path__``, by Python's own finders)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "task_router.evaluators":
            return None
        folder = self.root / "evaluators"
        return importlib.util.spec_from_file_location(
            fullname, folder / "__init__.py", submodule_search_locations=[str(folder)]
        )


def expose_checkout_packages() -> None:
    """In a source checkout, make ``task_router.evaluators`` importable from the repository root (once); in a
    wheel, do nothing (the package holds it)."""
    root = checkout_root()
    if root is None or (_PACKAGE / "evaluators").is_dir():
        return
    if not any(isinstance(finder, _CheckoutFinder) for finder in sys.meta_path):
        sys.meta_path.append(_CheckoutFinder(root))


def install_line(extra: str) -> str:
    """The command that installs an extra.

    Example:
        >>> install_line("cli")
        "pip install 'langgraph-task-router[cli]'"
    """
    return f"pip install 'langgraph-task-router[{extra}]'"


def require(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``module``, or raise ImportError saying which extra to install for ``purpose``.

    Only a missing ``module`` (or a missing parent package of it) is translated; any other import failure propagates.

    Example:
        >>> require("json", extra="eval", purpose="reading").__name__
        'json'
        >>> require("no_such_package.plots", extra="eval", purpose="PNGs")
        Traceback (most recent call last):
        ...
        ImportError: PNGs: the 'no_such_package' package is not installed; install it with pip install '...[eval]'
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if not missing or not (module == missing or module.startswith(missing + ".")):
            raise
        message = f"{purpose}: the '{missing}' package is not installed; install it with {install_line(extra)}"
        raise ImportError(message, name=missing) from exc
