"""The `task-router` command line (the ``cli`` extra: typer, rich). The app lives in :mod:`task_router.cli.base`.

This module imports neither typer nor rich, so the console script can say what to install when they are missing:
``pip install 'langgraph-task-router[cli]'``. ``app``, ``describe_error``, ``USAGE_EXIT`` and ``FAILURE_EXIT`` are
loaded from :mod:`task_router.cli.base` on first use.
"""

from __future__ import annotations

import sys
from typing import Any

CLI_INSTALL = "pip install 'langgraph-task-router[cli]'"
# What the app imports at start-up from the `cli` extra (click comes with typer); the rest of the extra
# (matplotlib, the SQLite checkpointer) is imported by the commands that need it, which name the extra themselves.
_CLI_PACKAGES = frozenset({"typer", "click", "rich"})
_LAZY = ("FAILURE_EXIT", "USAGE_EXIT", "app", "describe_error")


def main() -> None:
    """The `task-router` console script: the Typer app, or one line naming the ``cli`` extra when it is missing."""
    try:
        from task_router.cli.commands import main as run
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _CLI_PACKAGES:
            raise
        message = f"error: the task-router command needs the '{exc.name}' package; install it: {CLI_INSTALL}"
        print(message, file=sys.stderr)
        raise SystemExit(2) from None
    run()


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from task_router.cli import base, commands  # noqa: F401  (commands registers the subcommands on the app)

        return getattr(base, name)
    raise AttributeError(f"module 'task_router.cli' has no attribute {name!r}")


__all__ = ["CLI_INSTALL", "FAILURE_EXIT", "USAGE_EXIT", "app", "describe_error", "main"]
