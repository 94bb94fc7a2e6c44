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
    _quiet_libraries()
    app()


def _quiet_libraries() -> None:
    """No library chatter on a command's output: bitsandbytes' missing-kernel notice (it is imported by peft even
    when nothing is quantized), transformers' warnings and weight-loading bars. Set TRANSFORMERS_VERBOSITY=info
    (or HF_HUB_DISABLE_PROGRESS_BARS=0) to see them again."""
    import logging
    import os
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if os.environ["TRANSFORMERS_VERBOSITY"] == "error":
        logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")
