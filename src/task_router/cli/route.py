"""`task-router route`: one routing decision for a conversation file, printed as JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from task_router.cli import app
from task_router.cli.options import (
    BaseUrlOpt,
    CatalogOpt,
    ModelOpt,
    RerankOpt,
    RouterOpt,
    build_router,
    load_catalog,
    load_conversation,
)


@app.command()
def route(
    conversation: Annotated[
        Path,
        typer.Option("--conversation", help="JSON: a list of messages, or {'messages': [...], 'active_task': ...}."),
    ],
    catalog: CatalogOpt = None,
    model: ModelOpt = "embedded",
    router: RouterOpt = None,
    base_url: BaseUrlOpt = None,
    rerank: RerankOpt = None,
) -> None:
    """Route the latest user turn of a conversation and print the decision as JSON."""
    tasks = load_catalog(catalog)
    messages, active = load_conversation(conversation, tasks)  # validated before any model loads
    decider = build_router(router, model, base_url, rerank=rerank)
    try:
        decision = decider.invoke({"messages": messages, "active_task": active, "catalog": tasks})
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--conversation") from None
    typer.echo(decision.model_dump_json(indent=2))
