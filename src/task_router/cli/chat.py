"""`task-router chat`: talk to the demo assistant; every routing decision is shown."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from task_router.catalog import TaskCatalog
from task_router.cli.base import app
from task_router.cli.options import BaseUrlOpt, CatalogOpt, ModelOpt, RerankOpt, RouterOpt, build_router, load_catalog

_EVENT_STYLE = {"START": "green", "CONTINUE": "blue", "SWITCH": "magenta", "END": "yellow", "NONE": "red"}


def format_decision(decision: dict[str, Any]) -> str:
    """One compact line, e.g. ``[route] START linkedin_post  conf 0.81  42 ms``."""
    style = _EVENT_STYLE.get(decision["event"], "white")
    parts = [f"[dim]\\[route][/dim] [{style}]{decision['event']}[/{style}] {decision.get('task') or '-'}"]
    if decision.get("confidence") is not None:
        parts.append(f"conf {decision['confidence']:.2f}")
    parts.append(f"{decision['latency_ms']:.0f} ms")
    if not decision.get("valid_format", True):
        parts.append(f"[red]fallback: {decision.get('fallback') or 'invalid output'}[/red]")
    return "  ".join(parts)


@app.command()
def chat(
    model: ModelOpt = "embedded",
    router: RouterOpt = None,
    catalog: CatalogOpt = None,
    thread: Annotated[str | None, typer.Option("--thread", "-t", help="Thread id to resume (default: new).")] = None,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="SQLite file for threads (default: TASK_ROUTER_DB or ~/.local/share/task_router/threads.sqlite).",
        ),
    ] = None,
    base_url: BaseUrlOpt = None,
    rerank: RerankOpt = None,
) -> None:
    """Chat with the assistant. Commands: /tasks, /quit. Threads persist in SQLite: resume with --thread."""
    from task_router.graph import create_router_graph
    from task_router.models import load_chat_model
    from task_router.persistence import sqlite_checkpointer
    from task_router.reliability import resume_pending_turn

    console = Console()
    tasks = load_catalog(catalog)
    saver = sqlite_checkpointer(db)  # a bad --db fails before any model is loaded
    decider = build_router(router, model, base_url, rerank=rerank)
    decider.warm(tasks)  # before the first turn, so that its decision shows its own time
    chat_model = load_chat_model(model, base_url=base_url) if base_url else model
    graph = create_router_graph(tasks, router=decider, model=chat_model).compile(checkpointer=saver)
    thread_id = thread or uuid.uuid4().hex[:8]
    config = {"configurable": {"thread_id": thread_id}}
    state = graph.get_state(config).values
    console.print(
        f"[bold]task-router chat[/bold]  thread [cyan]{thread_id}[/cyan]  model {model}  router {decider.kind}  "
        f"({len(tasks)} tasks; /tasks to list, /quit to leave)"
    )
    if state.get("messages"):
        _show_resumed(console, state, tasks)
        finished = resume_pending_turn(graph, config)  # a turn cut off by a crash gets its decision and reply now
        if finished is not None:
            console.print("[dim]finishing the turn that was interrupted last time[/dim]")
            _show(console, finished)
    while True:
        try:
            text = console.input("[bold green]you>[/bold green] ").strip()
        except (EOFError, KeyboardInterrupt):
            console.print()  # Ctrl-D / Ctrl-C leave the cursor on the prompt's line: the goodbye goes on its own
            break
        if not text:
            continue
        if text in ("/quit", "/exit"):
            break
        if text == "/tasks":
            for task in tasks:
                console.print(f"- [bold]{task.name}[/bold]: {task.description}")
            continue
        _show(console, graph.invoke({"messages": [("user", text)]}, config))
    console.print(f"[dim]thread {thread_id} saved; resume with: task-router chat --thread {thread_id}[/dim]")


RESUME_MESSAGES = 4  # messages of a resumed thread shown before its prompt
_RESUME_CHARS = 300


def _show_resumed(console: Console, state: dict[str, Any], tasks: TaskCatalog) -> None:
    """Where a resumed thread stands: its size, active task (and the inputs it has), and its last few messages."""
    from task_router.routers.render import message_text

    messages = state["messages"]
    active = state.get("active_task")
    console.print(f"[dim]resumed: {len(messages)} messages, active task: {active}[/dim]")
    task = tasks.get(active)
    if task is not None:
        progress = (state.get("task_data") or {}).get(task.name) or {}
        given = ", ".join(progress.get("inputs") or {}) or "none yet"
        console.print(f"[dim]{task.title} ({task.name}): inputs given so far: {given}[/dim]")
    shown = messages[-RESUME_MESSAGES:]
    if len(messages) > len(shown):
        console.print(f"[dim]... {len(messages) - len(shown)} earlier messages[/dim]")
    for message in shown:
        text = " ".join(message_text(message).split())
        if len(text) > _RESUME_CHARS:
            text = text[: _RESUME_CHARS - 1] + "…"
        if message.type == "human":
            console.print(f"[green]you>[/green] {escape(text)}")
        elif message.type == "ai":
            console.print(f"[cyan]assistant>[/cyan] {escape(text)}")
    console.rule(style="dim")


def _show(console: Console, result: dict) -> None:
    console.print(format_decision(result["decisions"][-1]))
    reply = result["messages"][-1]
    if reply.type == "ai":
        console.print(f"[bold cyan]assistant>[/bold cyan] {reply.content}")
