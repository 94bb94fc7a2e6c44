"""`task-router chat`: talk to the demo assistant; every routing decision is shown.

A turn is streamed (:func:`run_turn`): a spinner while the router decides, the decision line as soon as the router
node has finished, then the reply token by token. Ctrl-C during a turn stops the reply (the model stops at its
next token) and keeps the thread: the user's message, the decision and the part of the reply already shown stay in
the checkpoint, and the next turn goes on from there.
"""

from __future__ import annotations

import signal
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.constants import TAG_NOSTREAM
from rich.console import Console
from rich.markup import escape

from task_router._catalog import TaskCatalog
from task_router.cli._base import (
    BaseUrlOpt,
    CatalogOpt,
    ModelOpt,
    RerankOpt,
    RouterOpt,
    ThresholdsOpt,
    app,
    build_router,
    load_catalog,
)
from task_router.reliability import DURABILITY

MAX_THREAD_ID_CHARS = 128


def check_thread_id(value: str | None) -> str | None:
    """A usage error (before any model loads) for a thread id the chat cannot show or resume by hand: over
    ``MAX_THREAD_ID_CHARS`` characters, empty, or with spaces or control characters."""
    if value is None:
        return None
    if not value or len(value) > MAX_THREAD_ID_CHARS or not value.isprintable() or any(c.isspace() for c in value):
        shown = value[:40] + ("..." if len(value) > 40 else "")
        raise typer.BadParameter(
            f"{shown!r} ({len(value)} characters) is not a usable thread id: give 1-{MAX_THREAD_ID_CHARS} printable "
            "characters without spaces (e.g. a short id such as 'a1b2c3d4', the one chat printed when it left)",
            param_hint="--thread",
        )
    return value


_EVENT_STYLE = {"START": "green", "CONTINUE": "blue", "SWITCH": "magenta", "END": "yellow", "NONE": "red"}


def format_decision(decision: dict[str, Any]) -> str:
    """One compact line, e.g. ``[route] START linkedin_post  conf 0.81  42 ms``; an off-topic request mid-task reads
    ``[route] NONE (off topic; meeting_recap stays active)  ...``, a question between close tasks
    ``[route] ASK find_trains | buy_train_tickets  ...``."""
    event, active = decision["event"], decision.get("active_task_after")
    style = _EVENT_STYLE.get(event, "white")
    if decision.get("clarify"):
        head = f"[cyan]ASK[/cyan] {' | '.join(decision['clarify'])}"
    elif event == "NONE" and active:
        head = f"[{style}]NONE[/{style}] (off topic; {active} stays active)"
    else:
        head = f"[{style}]{event}[/{style}] {decision.get('task') or '-'}"
    parts = [f"[dim]\\[route][/dim] {head}"]
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
    thread: Annotated[
        str | None,
        typer.Option(
            "--thread",
            "-t",
            help=f"Thread id to resume (default: new); at most {MAX_THREAD_ID_CHARS} characters, no spaces.",
            callback=check_thread_id,
        ),
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="SQLite file for threads (default: TASK_ROUTER_DB or ~/.local/share/task_router/threads.sqlite).",
        ),
    ] = None,
    base_url: BaseUrlOpt = None,
    rerank: RerankOpt = None,
    thresholds: ThresholdsOpt = None,
    clarify_margin: Annotated[
        float | None,
        typer.Option(
            "--clarify-margin",
            min=0.0,
            max=1.0,
            help="Ask which task you mean when the two most probable tasks are closer than this probability gap.",
        ),
    ] = None,
) -> None:
    """Chat with the assistant. Commands: /tasks, /quit. Threads persist in SQLite: resume with --thread."""
    from task_router._budget import call_within
    from task_router._graph import create_router_graph
    from task_router.models import load_chat_model
    from task_router.persistence import sqlite_checkpointer, thread_lock
    from task_router.reliability import resume_pending_turn

    console = Console()
    tasks = load_catalog(catalog)
    saver = sqlite_checkpointer(db)  # a bad --db fails before any model is loaded
    console.print(f"[dim]{_loading_note(model)}[/dim]", highlight=False)  # loading is silent for seconds to a minute
    decider = build_router(
        router, model, base_url, rerank=rerank, thresholds=thresholds, catalog=catalog, warn=console.print
    )
    call_within(decider.warm, tasks, timeout=None)  # before the first turn (its decision shows its own time)
    chat_model = load_chat_model(model, base_url=base_url) if base_url else model
    graph = create_router_graph(tasks, router=decider, model=chat_model, clarify_margin=clarify_margin).compile(
        checkpointer=saver
    )
    thread_id = thread or uuid.uuid4().hex[:8]
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    state = graph.get_state(config).values
    console.print(
        f"[bold]task-router chat[/bold]  thread [cyan]{escape(thread_id)}[/cyan]  model {escape(model)}  router "
        f"{decider.kind}  "
        f"({len(tasks)} tasks; /tasks to list, /quit to leave)"
    )
    if state.get("messages"):
        _show_resumed(console, state, tasks)
    if thread:  # a thread reopened: a turn cut off by a crash (even its first) is finished now
        with thread_lock(saver, thread_id):  # another chat on this thread waits for this turn, and this for its
            finished = resume_pending_turn(graph, config)  # a turn cut off by a crash gets its decision and reply
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
        with thread_lock(saver, thread_id):
            run_turn(graph, {"messages": [("user", text)]}, config, console)
    shown = escape(thread_id)
    console.print(f"[dim]thread {shown} saved; resume with: task-router chat --thread {shown}[/dim]", highlight=False)


RESUME_MESSAGES = 4  # messages of a resumed thread shown before its prompt
_RESUME_CHARS = 300


def _show_resumed(console: Console, state: dict[str, Any], tasks: TaskCatalog) -> None:
    """Where a resumed thread stands: its size, active task (and the inputs it has), and its last few messages."""
    from task_router._prompting import message_text

    messages = state["messages"]
    active = state.get("active_task")
    task = tasks.get(active)
    if active is not None and task is None:  # the thread's task left the catalogue: routing treats it as none
        where = f"no active task ({escape(str(active))} was removed from the catalogue)"
    else:
        where = f"active task: {escape(str(active))}"
    console.print(f"[dim]resumed: {len(messages)} messages, {where}[/dim]")
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
    console.print(format_decision(result["decisions"][-1]), highlight=False)
    reply = result["messages"][-1]
    if reply.type == "ai":
        console.print(f"[bold cyan]assistant>[/bold cyan] {reply.content}")


ROUTER_NODE = "router"  # task_router._graph.ROUTER_NODE (not imported here: the CLI imports the graph lazily)
STOPPED_FINISH_REASON = "stopped_by_user"


class ReplyStopped(Exception):
    """Raised inside a graph run, by :class:`StopOnRequest`, when the user asked to stop the reply (Ctrl-C)."""


class StopOnRequest(BaseCallbackHandler):
    """A callback handler that ends a graph run once ``requested`` is set: at the next token of a reply, or when
    the next node starts. Never inside the router node (a decision is short, and a turn keeps its decision) nor in
    the ``nostream`` model calls of the graph (a decision, extracted inputs)."""

    raise_error = True  # the exception is how the run stops
    run_inline = True

    def __init__(self, requested: threading.Event) -> None:
        self.requested = requested
        self._replies: set[UUID] = set()

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID, **kwargs: Any
    ) -> None:
        if TAG_NOSTREAM not in (kwargs.get("tags") or []):
            self._replies.add(run_id)

    def on_llm_new_token(self, token: str | list[str | dict[str, Any]], *, run_id: UUID, **kwargs: Any) -> None:
        if self.requested.is_set() and run_id in self._replies:
            raise ReplyStopped("the user stopped the reply")

    def on_chain_start(self, serialized: dict[str, Any], inputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        node = (kwargs.get("metadata") or {}).get("langgraph_node")
        starts_a_node = node is not None and kwargs.get("name") == node
        if self.requested.is_set() and starts_a_node and node != ROUTER_NODE:
            raise ReplyStopped("the user stopped the reply")


@contextmanager
def ctrl_c_requests(requested: threading.Event) -> Iterator[None]:
    """While the block runs, Ctrl-C sets ``requested`` instead of raising KeyboardInterrupt (a second Ctrl-C raises
    it). Outside the main thread (where Python cannot take signals) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _quiet_stop_warning() -> Iterator[None]:
    """LangChain logs a warning for every exception raised by a callback handler; a stop the user asked for is not
    one to show."""
    import logging

    callbacks_logger = logging.getLogger("langchain_core.callbacks.manager")

    def not_a_stop(record: logging.LogRecord) -> bool:
        return ReplyStopped.__name__ not in record.getMessage()

    callbacks_logger.addFilter(not_a_stop)
    try:
        yield
    finally:
        callbacks_logger.removeFilter(not_a_stop)


@dataclass
class TurnView:
    """What the user saw of one turn: printed as the graph's stream arrives (see :func:`run_turn`)."""

    console: Console
    status: Any = None  # the spinner, stopped at the first thing shown of the reply
    decision: dict[str, Any] | None = None
    replies: dict[str, str] = field(default_factory=dict)  # message id -> text shown (streamed or whole)
    queued: list[AIMessage] = field(default_factory=list)  # whole replies that arrived before the decision
    open_id: str | None = None  # the streamed reply whose line is still open
    stopped: bool = False
    partial: str = ""  # the streamed reply the user stopped, as far as it was shown

    def on_update(self, namespace: tuple[str, ...], update: dict[str, Any]) -> None:
        routed = update.get(ROUTER_NODE) if not namespace and isinstance(update, dict) else None
        if not isinstance(routed, dict) or not routed.get("decisions"):
            return
        self.decision = routed["decisions"][-1]
        self.console.print(format_decision(self.decision), highlight=False)
        if self.status is not None:
            self.status.update("[dim]writing the reply...[/dim]")
        for message in self.queued:
            self.show_message(message)
        self.queued.clear()

    def on_message(self, message: BaseMessage) -> None:
        if isinstance(message, AIMessageChunk):
            self.show_chunk(message)
        elif isinstance(message, AIMessage):
            if self.decision is None:
                self.queued.append(message)
            else:
                self.show_message(message)

    def show_chunk(self, chunk: AIMessageChunk) -> None:
        from task_router._prompting import message_text

        text = message_text(chunk)
        key = chunk.id or ""
        if key != self.open_id:
            self.close_line()
            if not text.strip():
                return  # a reply's line opens with its first visible text
            self._stop_spinner()
            self.console.print("[bold cyan]assistant>[/bold cyan] ", end="")
            self.open_id, self.replies[key] = key, ""
            text = text.lstrip()
        self.replies[key] += text
        self.console.print(text, end="", markup=False, highlight=False, soft_wrap=True)

    def show_message(self, message: AIMessage) -> None:
        from task_router._prompting import message_text

        if message.id is not None and message.id in self.replies:
            return  # streamed already
        self.close_line()
        self._stop_spinner()
        text = message_text(message)
        self.replies[message.id or ""] = text
        self.console.print(f"[bold cyan]assistant>[/bold cyan] {escape(text)}")

    def close_line(self) -> None:
        if self.open_id is not None:
            self.console.print()
            self.open_id = None

    def finish(self) -> None:
        if self.stopped and self.open_id is not None:
            self.partial = self.replies[self.open_id]
            space = "" if self.partial[-1:].isspace() else " "
            self.console.print(f"{space}[dim](stopped)[/dim]", end="")
        self.close_line()
        self._stop_spinner()
        for message in self.queued:  # a turn without a decision (none expected): still show its replies
            self.show_message(message)
        if self.stopped:
            self.console.print("[dim]reply stopped; the thread is kept, go on with your next message[/dim]")

    def _stop_spinner(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None


def run_turn(graph: Any, payload: dict[str, Any] | None, config: RunnableConfig, console: Console) -> TurnView:
    """Run one turn of ``graph`` and show it as it comes: a spinner while the router decides, the decision line as
    soon as the router node has finished, then the reply token by token (LangGraph's ``stream_mode=["updates",
    "messages"]``; ``subgraphs=True`` because the generic task subgraph writes inside the ``task`` node).

    Ctrl-C stops the reply (see :class:`StopOnRequest`); the turn is then closed in the checkpoint with the part of
    the reply already shown (:func:`close_stopped_turn`), so that the thread goes on normally.
    """
    requested = threading.Event()
    run_config: RunnableConfig = {**config, "callbacks": [StopOnRequest(requested)]}
    view = TurnView(console)
    with ctrl_c_requests(requested), _quiet_stop_warning(), console.status("[dim]routing...[/dim]") as status:
        view.status = status
        try:
            for namespace, mode, data in graph.stream(
                payload, run_config, stream_mode=["updates", "messages"], subgraphs=True, durability=DURABILITY
            ):
                if mode == "updates":
                    view.on_update(namespace, data)
                elif mode == "messages":
                    view.on_message(data[0])
        except ReplyStopped:
            view.stopped = True
        finally:
            view.finish()
    if view.stopped:
        close_stopped_turn(graph, config, view.partial)
    return view


def close_stopped_turn(graph: Any, config: RunnableConfig, shown: str) -> None:
    """Close a turn whose reply the user stopped: the reply node's place in the checkpoint is taken by the part of
    the reply already shown (marked ``finish_reason: stopped_by_user``), or by nothing if nothing was shown. The
    user's message and the decision are in the checkpoint already; without this, the thread would look like a turn
    cut off by a crash, and :func:`~task_router.reliability.resume_pending_turn` would write the reply again."""
    snapshot = graph.get_state(config, subgraphs=True)
    if not snapshot.next or ROUTER_NODE in snapshot.next:
        return  # finished after all, or not routed yet (the router is never stopped)
    node = snapshot.next[0]
    # A task subgraph stopped mid-way has checkpointed what it did so far (e.g. the inputs it collected): keep it.
    inner = next((t.state for t in snapshot.tasks if t.name == node and hasattr(t.state, "values")), None)
    values: dict[str, Any] = {k: v for k, v in (inner.values if inner else {}).items() if k != "messages"}
    if shown.strip():
        task = snapshot.values.get("active_task")
        reply = AIMessage(shown.strip(), name=task, response_metadata={"finish_reason": STOPPED_FINISH_REASON})
        values["messages"] = [reply]
    graph.update_state(config, values or None, as_node=node)


def _loading_note(model: str) -> str:
    """What the chat says while it loads its models, before anything else can be shown."""
    from task_router.models._local import embedded_model_converted

    if model == "embedded" and not embedded_model_converted():
        return "loading the router and the embedded model; first run: converting it once (about a minute)..."
    return "loading the router and the models (a few seconds)..."
