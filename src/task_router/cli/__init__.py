"""The `task-router` command line (the ``cli`` extra: typer, rich): its console script, and the app with every
subcommand registered. The app lives in :mod:`task_router.cli._base`; each subcommand module adds its commands to it.

This module imports neither typer nor rich, so the console script can say what to install when they are missing:
``pip install 'langgraph-task-router[cli]'``. ``app`` is loaded from :mod:`task_router.cli._base` on first use, with
the subcommand modules (:func:`_commands`).
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
        app = _commands()
        from task_router.cli._base import quiet_libraries
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _CLI_PACKAGES:
            raise
        message = f"error: the task-router command needs the '{exc.name}' package; install it: {_CLI_INSTALL}"
        print(message, file=sys.stderr)
        raise SystemExit(2) from None
    quiet_libraries()
    app()


def __getattr__(name: str) -> Any:
    if name == "app":
        return _commands()
    raise AttributeError(f"module 'task_router.cli' has no attribute {name!r}")


def _commands() -> Any:
    """The `task-router` app with every subcommand registered (each module adds its commands to ``app``), listed
    by name in ``--help``."""
    import task_router.cli._chat
    import task_router.cli._data
    import task_router.cli._eval
    import task_router.cli._fit
    import task_router.cli._train  # noqa: F401
    from task_router.cli._base import app

    app.registered_commands.sort(key=lambda command: str(command.name or getattr(command.callback, "__name__", "")))
    return app


__all__ = ["app", "main"]
