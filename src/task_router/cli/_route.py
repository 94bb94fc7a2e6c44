"""`task-router route`: one routing decision for a conversation file, printed as JSON."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from task_router.cli._base import app
from task_router.cli._options import (
    BaseUrlOpt,
    CatalogOpt,
    ModelOpt,
    RerankOpt,
    RouterOpt,
    ThresholdsOpt,
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
    thresholds: ThresholdsOpt = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also print the start-up time (model load, warm-up) to stderr.")
    ] = False,
) -> None:
    """Route the latest user turn of a conversation and print the decision as JSON.

    ``latency_ms`` is the decision's own time: loading the model and embedding the catalogue happen before it
    (``--verbose`` prints how long that took)."""
    from task_router._budget import call_within
    from task_router.routers._fallbacks import make_reliable

    tasks = load_catalog(catalog)
    messages, active = load_conversation(conversation, tasks)  # validated before any model loads
    started = time.perf_counter()
    decider = build_router(
        router,
        model,
        base_url,
        rerank=rerank,
        thresholds=thresholds,
        catalog=catalog,
        warn=lambda m: typer.echo(m, err=True),
    )
    call_within(decider.warm, tasks, timeout=None)  # on the decisions' thread, like every torch call
    if verbose:
        typer.echo(f"start-up: {time.perf_counter() - started:.2f} s ({decider.name}, {decider.model_label})", err=True)
    try:
        # As in the graph: a failing model falls back (retries, the embedding router, keep the active task).
        decision = make_reliable(decider).invoke({"messages": messages, "active_task": active, "catalog": tasks})
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--conversation") from None
    typer.echo(decision.model_dump_json(indent=2))
