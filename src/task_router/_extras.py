"""Optional dependencies: import a package of an extra, or fail with the ``pip install`` line that brings it.

The core (``pip install langgraph-task-router``) imports none of the extras' packages at module level; the code that
needs one imports it through :func:`require` when it runs.
"""

from __future__ import annotations

import importlib
from types import ModuleType


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
