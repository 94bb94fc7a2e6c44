"""`task-router review`: review training conversations in the terminal (confirm, back, change label, flag, delete)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from task_router.cli._base import app
from task_router.cli._options import check_output


@app.command("review")
def review_command(
    data: Annotated[Path, typer.Argument(help="Benchmark-format file to review (.jsonl / .jsonl.gz).")],
    state: Annotated[
        Path | None, typer.Option("--state", help="Progress file (default: <data>.review.json); resumed if it exists.")
    ] = None,
    export: Annotated[
        Path | None, typer.Option("--export", help="Write the reviewed data to this file instead of opening the UI.")
    ] = None,
    include_flagged: Annotated[bool, typer.Option("--include-flagged", help="Export flagged ones too.")] = False,
) -> None:
    """Review generated conversations one by one; progress is saved after every action.

    Example: task-router review generated.jsonl   then   task-router review generated.jsonl --export reviewed.jsonl
    """
    from task_router.training._review import ReviewSession

    check_output(export, "--export", folder=False)

    try:
        session = ReviewSession(data, state)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if export is not None:
        count = session.export(export, include_flagged=include_flagged)
        Console().print(f"{count} conversations written to {export} ({session.counts()})")
        return
    from task_router.training._review_app import ReviewApp

    ReviewApp(session).run()
