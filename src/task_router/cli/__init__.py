"""The `task-router` command line (typer). Each subcommand lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="task-router",
    help="Per-turn task routing for LangGraph assistants: chat, route, evaluate, train, benchmark.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)

# Registering the subcommands (each module adds its command to `app`).
from task_router.cli import bench, chat, eval, fit, generate, review, route, train  # noqa: E402, F401


def main() -> None:
    app()
