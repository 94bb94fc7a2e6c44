"""The `task-router` Typer app, its error boundary and entry point; each subcommand lives in its own module.

Errors: every command shares one error boundary (:class:`_ErrorBoundary`). Bad input (a usage error, a file that
cannot be read or written, an unusable catalogue, conversation, dataset, model spec or database) prints one line,
``error: <what was wrong>; <what a valid input is / the fix>``, and exits with status 2; any other failure prints one
line too and exits with status 1. ``task-router --debug <command> ...`` (or ``TASK_ROUTER_DEBUG=1``) shows the
traceback instead.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

USAGE_EXIT = 2  # bad input: the user can fix it
FAILURE_EXIT = 1  # anything else


class _ErrorBoundary(TyperGroup):
    """The Typer group that runs every subcommand inside the CLI's one error boundary (see the module docstring).

    It sits in ``invoke``, so it applies however the app is run (``task-router``, ``python -m``, CliRunner).
    """

    # The base annotates ctx with click's Context, vendored by typer with no public name; typer.Context subclasses it
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if _debug(ctx):
                raise
            message, code = describe_error(exc, ctx)
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(code) from None


def describe_error(exc: BaseException, ctx: typer.Context | None = None) -> tuple[str, int]:
    """(one-line message saying what was wrong and what to do, exit status) for an exception out of a command."""
    command = _command_path(ctx)
    if isinstance(exc, typer.TyperException) and hasattr(exc, "format_message"):  # usage errors, BadParameter
        message = _one_line(exc.format_message()).rstrip(".")
        if ";" not in message:
            message += f"; see `{command} --help`"
        return message, USAGE_EXIT
    if isinstance(exc, IsADirectoryError | NotADirectoryError | FileExistsError | PermissionError | FileNotFoundError):
        return _os_message(exc), USAGE_EXIT
    if isinstance(exc, ValueError | sqlite3.DatabaseError):  # CatalogError, DatasetError, bad model specs...
        message = _one_line(str(exc)) or type(exc).__name__
        if ";" not in message and ":" not in message:
            message += f"; check the command's inputs (`{command} --help`)"
        return message, USAGE_EXIT
    if isinstance(exc, ImportError):
        message = _one_line(str(exc))
        if "pip install" in message:  # our own messages (task_router._resources.require) already name the extra
            return message, USAGE_EXIT
        return f"{message}; install the missing package (see the README's install extras)", USAGE_EXIT
    if isinstance(exc, OSError):
        return _os_message(exc), USAGE_EXIT
    if type(exc).__module__.split(".")[0] == "openai":  # e.g. missing or rejected credentials
        return f"{_one_line(str(exc))}; set OPENAI_API_KEY or give --base-url of a local server", USAGE_EXIT
    detail = _one_line(f"{type(exc).__name__}: {exc}")
    return f"{detail}; this is a bug, not your input: rerun with `task-router --debug ...` and report it", FAILURE_EXIT


def _os_message(exc: OSError) -> str:
    if exc.strerror is None and str(exc):  # raised with a message of ours, which names the path and the fix
        return _one_line(str(exc))
    name = exc.filename if exc.filename is not None else "the path"
    reason = exc.strerror or type(exc).__name__
    fixes = {
        FileExistsError: "it exists and is not a folder: give a new path or a folder",
        NotADirectoryError: "part of the path is a file, not a folder: give a path under a folder",
        IsADirectoryError: "it is a folder: give a file path",
        PermissionError: "permission denied: give a path you can read and write",
        FileNotFoundError: "it does not exist: check the path",
    }
    fix = next((text for kind, text in fixes.items() if isinstance(exc, kind)), "check the path and the disk")
    return f"cannot use {name} ({reason}); {fix}"


def _one_line(text: str) -> str:
    r"""``text`` on one line: its lines joined by "; " (a heading ending in ":" runs on into its first item).

    Example:
        >>> _one_line("invalid task catalogue:\n  task #1: no name\n  task #2: no description")
        'invalid task catalogue: task #1: no name; task #2: no description'
    """
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return "".join(line + (" " if line.endswith(":") else "; ") for line in lines).rstrip("; ")[:2000]


def _command_path(ctx: typer.Context | None) -> str:
    sub = getattr(ctx, "invoked_subcommand", None) if ctx is not None else None
    return f"task-router {sub}" if sub else "task-router"


def _debug(ctx: typer.Context) -> bool:
    return bool(ctx.params.get("debug")) or os.environ.get("TASK_ROUTER_DEBUG", "") not in ("", "0")


app = typer.Typer(
    name="task-router",
    help="Per-turn task routing for LangGraph assistants: chat, route, evaluate, train, benchmark.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    cls=_ErrorBoundary,
)


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of an error (also TASK_ROUTER_DEBUG=1).")
    ] = False,
) -> None:
    """Per-turn task routing for LangGraph assistants: chat, route, evaluate, train, benchmark."""


def quiet_libraries() -> None:
    """No library chatter on a command's output: bitsandbytes' missing-kernel notice (it is imported by peft even
    when nothing is quantized), transformers' warnings and weight-loading bars. Set TRANSFORMERS_VERBOSITY=info
    (or HF_HUB_DISABLE_PROGRESS_BARS=0) to see them again."""
    import logging
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if os.environ["TRANSFORMERS_VERBOSITY"] == "error":
        logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")


__all__ = ["FAILURE_EXIT", "USAGE_EXIT", "app", "describe_error", "quiet_libraries"]
