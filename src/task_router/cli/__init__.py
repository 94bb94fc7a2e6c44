"""The `task-router` command line (the ``cli`` extra: typer, rich). The app lives in :mod:`task_router.cli._base`.

This module imports neither typer nor rich, so the console script can say what to install when they are missing:
``pip install 'langgraph-task-router[cli]'``. ``app`` is loaded from :mod:`task_router.cli._base` on first use.
"""

from __future__ import annotations

import sys
from typing import Any

_CLI_INSTALL = "pip install 'langgraph-task-router[cli]'"
# What the app imports at start-up from the `cli` extra (click comes with typer); the rest of the extra
# (matplotlib, the SQLite checkpointer) is imported by the commands that need it, which name the extra themselves.
_CLI_PACKAGES = frozenset({"typer", "click", "rich"})


def main() -> None:
    """The `task-router` console script: the Typer app, or one line naming the ``cli`` extra when it is missing."""
    try:
        from task_router.cli._commands import main as run
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _CLI_PACKAGES:
            raise
        message = f"error: the task-router command needs the '{exc.name}' package; install it: {_CLI_INSTALL}"
        print(message, file=sys.stderr)
        raise SystemExit(2) from None
    run()


def __getattr__(name: str) -> Any:
    if name == "app":
        from task_router.cli import _base, _commands  # noqa: F401  (_commands registers the subcommands on the app)

        return _base.app
    raise AttributeError(f"module 'task_router.cli' has no attribute {name!r}")


__all__ = ["app", "main"]
