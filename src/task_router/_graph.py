"""`create_router_graph`: router node -> task subgraphs / None node / END."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from task_router._budget import run_in_background
from task_router._catalog import TaskCatalog
from task_router._clarify import clarify_question, close_tasks, pending_question, question_message, with_question
from task_router._decision import RouteDecision
from task_router._prompting import message_text
from task_router._router_input import is_user_message, off_topic_reply, with_last_reply_off_topic
from task_router._task_graph import RouterState, create_task_graph, not_streamed
from task_router.models import ModelSpec, load_chat_model
from task_router.routers import Router, make_router
from task_router.routers._base import underlying_router
from task_router.routers._fallbacks import make_reliable, timed

ROUTER_NODE, TASK_NODE, NONE_NODE, CLARIFY_NODE, PREFILL_NODE = "router", "task", "none", "clarify", "prefill"
logger = logging.getLogger("task_router")
DEFAULT_END_MESSAGE = "Done with {title}. Is there anything else I can help you with?"


def default_none_reply(catalog: TaskCatalog, active_task: str | None = None, pending: str | None = None) -> str:
    """The None node's reply: with a task active (a digression), say so and go back to the task, repeating its
    ``pending`` question if it has one; with none, repeat the ``pending`` question (the graph's own, between close
    tasks, not answered yet) or list what the assistant can do.

    Example:
        >>> from task_router import Task, TaskCatalog
        >>> catalog = TaskCatalog([Task(name="meeting_recap", description="Recap a meeting.")])
        >>> default_none_reply(catalog, "meeting_recap", pending="Could you paste the notes?")
        "Sorry, I can't help with that here. Back to Meeting recap: Could you paste the notes?"
        >>> default_none_reply(catalog, pending="Do you mean: Meeting recap, or Weekly report?")
        "Sorry, I can't help with that here. Do you mean: Meeting recap, or Weekly report?"
    """
    task = catalog.get(active_task)
    if task is None and pending:
        return f"Sorry, I can't help with that here. {pending}"
    if task is not None and pending:
        return f"Sorry, I can't help with that here. Back to {task.title}: {pending}"
    if task is not None:
        return f"Sorry, I can't help with that here. Shall we go on with {task.title}?"
    lines = [f"- {task.title}: {task.description}" for task in catalog]
    return "I can't help with that here. This is what I can do:\n" + "\n".join(lines)


def create_router_graph(
    catalog: TaskCatalog,
    *,
    router: Runnable[dict[str, Any], RouteDecision] | str | None = None,
    model: ModelSpec | None = "embedded",
    task_graphs: Mapping[str, Runnable[Any, Any] | Callable[..., Any]] | None = None,
    none_handler: Runnable[Any, Any] | Callable[..., Any] | None = None,
    end_message: str | None = DEFAULT_END_MESSAGE,
    state_schema: type[Any] = RouterState,
    extract_inputs: bool | None = None,
    clarify_margin: float | None = None,
) -> StateGraph:
    """Build the conversation graph: on every user turn the router decides, then the turn goes to the active
    task's subgraph, the None node, or END. A thin wrapper over :func:`add_task_router` on a new ``StateGraph``
    with the generic task subgraph (and ``task_graphs``) as its task nodes.

    Args:
        catalog: the tasks on offer; it may be edited while threads run (decisions follow the edits).
        router: a Router, a router kind (built over ``model``) or None (the model's best kind), composed with
            :func:`~task_router.reliability.make_reliable`'s default: transient failures retried, then the
            embedding router, then the active task kept, so that no turn is lost. Any other Runnable from the
            router input to a RouteDecision is used as it is: your own ``make_reliable(router, retries=...,
            fallback=...)``, or ``make_router(...).with_retry(...).with_fallbacks([...], exception_key="error")``.
            Without retries or a fallback router: ``make_reliable(router, retries=0, fallback=None)`` (a failure
            keeps the active task); to let the router's errors reach the caller, any Runnable around it, e.g.
            ``router.with_config(run_name="router")``.
        model: the chat model (spec or instance) for the generic task subgraph and for a router given by kind.
        task_graphs: your own subgraph (or node function) per task name; other tasks use the generic subgraph
            that collects the task's inputs and then produces its deliverable.
        none_handler: node run when nothing in the catalogue fits; by default it lists what the assistant can do,
            or, when a task is active (an off-topic request: the task stays active), offers to go on with it, in a
            reply marked with :func:`~task_router.off_topic_reply` (after a question between close tasks, it asks
            it again, marked too); your handler's reply to such an aside is read as marked too (marked or not, and
            stored marked at the next turn), so the learned router and the task read the next turn with what was
            asked before the aside.
        end_message: reply when the user ends a task (``{title}`` is the task's title); None for no reply.
        state_schema: a subclass of :class:`RouterState` if you need more keys.
        extract_inputs: whether the generic task subgraph asks ``model`` which of a task's inputs the user's
            message already gives (default: only for models with structured output; see :func:`create_task_graph`).
        clarify_margin: when the two most probable tasks of a decision are closer than this probability gap, the
            graph asks the user which one they mean (one short question naming them; the active task does not
            change) and routes their answer on the next turn; never twice in a row. A router made with
            ``make_router(..., clarify_margin=m)`` marks such decisions itself. None: never ask (unless the router
            marks decisions).

    Streaming: ``graph.stream(..., stream_mode="messages", subgraphs=True)`` yields the replies token by token (the
    generic task subgraph's model writes inside the ``task`` subgraph, hence ``subgraphs=True``) and the other
    replies (questions, the None node's, the end message) whole; the router's and the input extractor's model
    calls are tagged ``nostream`` and left out. ``task-router chat`` shows a turn this way (``task_router.cli._chat``).

    Returns:
        An uncompiled ``StateGraph``; compile it with a checkpointer to keep threads. With a router that keeps
        per-thread caches (the ``scoring`` kind), a last ``prefill`` node hands it the assistant's reply in the
        background, so that the next decision only reads the user's new turn.

    Example:
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> from task_router import TaskCatalog, create_router_graph
        >>> graph = create_router_graph(TaskCatalog.demo(), model="embedded").compile(
        ...     checkpointer=InMemorySaver())  # doctest: +SKIP
        >>> cfg = {"configurable": {"thread_id": "1"}}
        >>> graph.invoke({"messages": [("user", "Write a LinkedIn post")]}, cfg)["active_task"]  # doctest: +SKIP
        'linkedin_post'
    """
    _check_catalog(catalog)
    task_graphs = dict(task_graphs or {})
    unknown = [name for name in task_graphs if name not in catalog]
    if unknown:
        raise ValueError(f"task_graphs names tasks not in the catalogue: {unknown}; add them first ({catalog.names})")
    reserved = {ROUTER_NODE, TASK_NODE, NONE_NODE, CLARIFY_NODE, PREFILL_NODE} & set(task_graphs)
    if reserved:
        raise ValueError(f"task names {sorted(reserved)} clash with the graph's own nodes: rename those tasks")
    close_tasks([], clarify_margin)  # a bad margin fails before a model loads, naming the fix
    chat_model = load_chat_model(model) if model is not None else None
    builder = StateGraph(state_schema)
    if chat_model is not None:
        builder.add_node(TASK_NODE, create_task_graph(catalog, chat_model, extract_inputs=extract_inputs))
    else:
        builder.add_node(TASK_NODE, _no_model_task)
    for name, graph in task_graphs.items():
        builder.add_node(name, graph)
    return add_task_router(
        builder,
        catalog,
        router=router,
        model=model,
        task_nodes={name: name for name in task_graphs},
        default_task_node=TASK_NODE,
        none_handler=none_handler,
        end_message=end_message,
        clarify_margin=clarify_margin,
    )


def add_task_router(
    builder: StateGraph,
    catalog: TaskCatalog,
    *,
    router: Runnable[dict[str, Any], RouteDecision] | str | None = None,
    model: ModelSpec | None = "embedded",
    task_nodes: Mapping[str, str] | None = None,
    default_task_node: str | None = None,
    none_handler: Runnable[Any, Any] | Callable[..., Any] | None = None,
    end_message: str | None = DEFAULT_END_MESSAGE,
    clarify_margin: float | None = None,
) -> StateGraph:
    """Add the task router to your own ``StateGraph``, in the manner of langgraph-swarm's
    ``add_active_agent_router``: a ``router`` node entered from START decides every user turn and sends it to the
    node of its task, to a ``none`` node (its reply when nothing fits) or a ``clarify`` node (its question between
    two close tasks), or ends the turn (END, with ``end_message``).

    Your task nodes are yours to add, before or after this call, with their own edges; the ``none`` and
    ``clarify`` nodes this adds end the turn (through a ``prefill`` node that warms the router's cache when the
    router keeps per-thread caches: add an edge from your task nodes to ``"prefill"`` to warm it after them too).

    Args:
        builder: your graph; its state schema must have :class:`RouterState`'s keys (subclass it).
        catalog: the tasks on offer; it may be edited while threads run (decisions follow the edits).
        router: a Router, a router kind (built over ``model``) or None (the model's best kind), composed with
            :func:`~task_router.reliability.make_reliable`'s default; any other Runnable (your own
            ``make_reliable(router, ...)`` or composition) is used as it is (see :func:`create_router_graph`).
        model: the chat model (spec or instance) for a router given by kind.
        task_nodes: task name -> the node of ``builder`` that runs it.
        default_task_node: the node for every task not in ``task_nodes``; None: every task of the catalogue must
            be in ``task_nodes`` when it is decided (an unknown task is an error naming the fix).
        none_handler: the ``none`` node; by default it lists what the assistant can do, or, when a task is active
            (an off-topic request: the task stays active), offers to go on with it in a reply marked with
            :func:`~task_router.off_topic_reply`, or asks a question between close tasks again (your handler's
            reply to such an aside is read, and stored at the next turn, as marked too, marked or not).
        end_message: reply when the user ends a task (``{title}`` is the task's title); None for no reply.
        clarify_margin: ask between the two most probable tasks when closer than this probability gap (see
            :func:`create_router_graph`); None: never ask (unless the router marks decisions).

    Returns:
        ``builder``, with the router's nodes and edges added.

    Example:
        >>> from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
        >>> from langchain_core.messages import AIMessage
        >>> from langgraph.graph import END, StateGraph
        >>> from task_router import RouterState, Task, TaskCatalog, make_router
        >>> catalog = TaskCatalog([Task(name="meeting_recap", description="Recap a meeting from its notes.")])
        >>> builder = StateGraph(RouterState)
        >>> _ = builder.add_node("recap", lambda state: {"messages": [("ai", "Paste the notes.")]})
        >>> model = GenericFakeChatModel(messages=iter([AIMessage('{"task": "meeting_recap", "closing": false}')]))
        >>> graph = add_task_router(builder, catalog, router=make_router("structured", model=model),
        ...                         task_nodes={"meeting_recap": "recap"}).compile()
        >>> graph.invoke({"messages": [("user", "Recap the meeting")]})["active_task"]
        'meeting_recap'
    """
    _check_catalog(catalog)
    missing = [key for key in RouterState.__annotations__ if key not in builder.channels]
    if missing:
        raise ValueError(f"the graph's state has no {missing}: build it on task_router.RouterState or a subclass of it")
    task_nodes = dict(task_nodes or {})
    unknown = [name for name in task_nodes if name not in catalog]
    if unknown:
        raise ValueError(f"task_nodes names tasks not in the catalogue: {unknown}; add them first ({catalog.names})")
    taken = {NONE_NODE, CLARIFY_NODE, ROUTER_NODE, PREFILL_NODE} & set(builder.nodes)
    if taken:
        raise ValueError(f"the graph already has nodes named {sorted(taken)}: rename yours, the router adds them")
    close_tasks([], clarify_margin)  # a bad margin fails here, naming the fix
    if router is None or isinstance(router, str):
        router = make_router(router, model=model)
    if isinstance(router, Router):  # a bare router gets the default composition; a composition is the user's
        router = make_reliable(router)
    # A composition's decisions count its whole time and come held to the contract (TimedComposition): its output
    # is untrusted. A bare Router was composed by make_reliable just above.
    router = timed(router)

    def payload(state: RouterState) -> dict[str, Any] | None:
        messages: Sequence[BaseMessage] = state.get("messages") or []
        if not messages or not is_user_message(messages[-1]):
            return None
        if none_handler is not None and _was_aside(state.get("decisions") or []):
            messages = with_last_reply_off_topic(messages)  # your none_handler's reply, read as the graph's own
        return {"messages": messages, "active_task": state.get("active_task"), "catalog": catalog}

    # A decision is not a reply: not_streamed keeps its model calls out of "messages" mode.
    def route(state: RouterState, config: RunnableConfig) -> Command[Any]:
        turn = payload(state)
        return act(state, turn, router.invoke(turn, not_streamed(config))) if turn else Command(goto=END)

    async def aroute(state: RouterState, config: RunnableConfig) -> Command[Any]:
        turn = payload(state)
        return act(state, turn, await router.ainvoke(turn, not_streamed(config))) if turn else Command(goto=END)

    def node_of(task: str) -> str:
        node = task_nodes.get(task, default_task_node)
        if node is None:
            raise ValueError(f"task {task!r} has no node: add it to task_nodes or give default_task_node")
        return node

    def act(state: RouterState, turn: Mapping[str, Any], decision: RouteDecision) -> Command[Any]:
        command = decide(state, decision)
        if turn["messages"] is state["messages"]:  # nothing marked for the router (every turn but an aside's)
            return command
        # your none_handler's reply, marked in the router's input, is stored marked too (replaced by its id), so
        # that the task nodes read the turn after the aside as the router did
        marked = [m for m, kept in zip(turn["messages"], state["messages"], strict=True) if m is not kept and m.id]
        if not marked:
            return command
        update = dict(command.update or {})
        return Command(update={**update, "messages": [*marked, *update.get("messages", [])]}, goto=command.goto)

    def decide(state: RouterState, decision: RouteDecision) -> Command[Any]:
        decision = with_question(decision, pending_question(state.get("decisions") or []), clarify_margin, catalog)
        if decision.clarify:  # a question, not an action: the active task stays as it was
            return Command(update={"decisions": [decision.model_dump()]}, goto=CLARIFY_NODE)
        update: dict[str, Any] = {"active_task": decision.active_task_after, "decisions": [decision.model_dump()]}
        if decision.event == "END":
            update["task_data"] = {decision.task: None}
            task = catalog.get(decision.task)
            if end_message and task is not None:
                update["messages"] = [AIMessage(end_message.format(title=task.title))]
            return Command(update=update, goto=END)
        if decision.event == "NONE":
            return Command(update=update, goto=NONE_NODE)
        return Command(update=update, goto=node_of(str(decision.task)))

    def none_reply(state: RouterState) -> dict[str, Any]:
        active = state.get("active_task")
        view = catalog.frozen()  # one reading, whatever is edited meanwhile
        question = _question(pending_question(state.get("decisions") or []) or [], view)
        if question is not None:  # the graph's question between close tasks, asked again (not the task's own)
            reply = AIMessage(default_none_reply(view, pending=message_text(question)))
        else:
            reply = AIMessage(default_none_reply(view, active, _pending_question(state, active)))
        # an aside (a task active, or a question waiting for its answer): marked, so that the router reads the next
        # turn with what was asked before it
        return {"messages": [off_topic_reply(reply) if active is not None or question else reply]}

    def clarify(state: RouterState) -> dict[str, Any]:
        view = catalog.frozen()
        question = _question((state.get("decisions") or [{}])[-1].get("clarify") or [], view)
        return {"messages": [question or AIMessage(default_none_reply(view))]}  # none offered any more: what it can do

    targets = {*task_nodes.values(), *([default_task_node] if default_task_node else [])}
    destinations = (*targets, NONE_NODE, CLARIFY_NODE, END)
    builder.add_node(ROUTER_NODE, SyncAsyncNode(route, aroute), destinations=destinations)
    builder.add_node(NONE_NODE, none_handler or none_reply)
    builder.add_node(CLARIFY_NODE, clarify)
    builder.add_edge(START, ROUTER_NODE)
    after_reply = END
    routing_router = underlying_router(router)  # LangChain's compositions do not all forward `prefill`
    if callable(getattr(routing_router, "prefill", None)):
        builder.add_node(PREFILL_NODE, _prefill_node(routing_router, catalog))
        builder.add_edge(PREFILL_NODE, END)
        after_reply = PREFILL_NODE
    leaving = {source for source, _ in builder.edges} | set(builder.branches)
    for name in (*sorted(targets), NONE_NODE, CLARIFY_NODE):
        if name in builder.nodes and name not in leaving:  # a node of yours without an edge ends the turn
            builder.add_edge(name, after_reply)
    return builder


def _check_catalog(catalog: Any) -> None:
    if not isinstance(catalog, TaskCatalog):
        raise ValueError("catalog must be a TaskCatalog: build one with TaskCatalog([...]) or TaskCatalog.from_file()")


class SyncAsyncNode(Runnable[Any, Any]):
    """A graph node with a sync and an async body, as LangGraph's prebuilt nodes have: ``graph.invoke`` runs
    ``func``, ``graph.ainvoke`` / ``astream`` await ``afunc`` (a plain function node would run in a thread of the
    event loop's executor). It adds no traced run: LangGraph traces the node itself."""

    def __init__(self, func: Callable[[Any, RunnableConfig], Any], afunc: Callable[[Any, RunnableConfig], Any]) -> None:
        self.func, self.afunc = func, afunc
        self.name = func.__name__

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self.func(input, ensure_config(config))

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return await self.afunc(input, ensure_config(config))


def _was_aside(decisions: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the last turn (its ``decisions`` entry) was an off-topic request with a task kept active or a
    question of the graph's waiting for its answer."""
    decision = decisions[-1] if decisions else {}
    if decision.get("event") != "NONE" or decision.get("clarify"):
        return False
    return decision.get("active_task_after") is not None or pending_question(decisions[:-1]) is not None


def _question(asked: Sequence[str], view: TaskCatalog) -> AIMessage | None:
    """The question between the close tasks ``asked`` that are still offered (a turn resumed, or an edit made, after
    routing may have lost some of them), or None when none is."""
    tasks = [task for name in dict.fromkeys(asked) if (task := view.get(name)) is not None]
    if len(tasks) >= 2:
        names = [task.name for task in tasks]
        return question_message(clarify_question(names, view), names)
    if tasks:
        return question_message(f"Do you mean {tasks[0].title}?", [tasks[0].name])
    return None


def _pending_question(state: RouterState, task: str | None) -> str | None:
    """The question the active task's subgraph asked last, if the user has not had the deliverable yet."""
    data = (state.get("task_data") or {}).get(task or "") or {}
    if task is None or data.get("delivered") or not data.get("asked"):
        return None
    for message in reversed(state.get("messages") or []):
        if isinstance(message, AIMessage) and message.name == task:
            return message_text(message)
    return None


class _ConfigNode(Protocol):
    """A node function that takes the run's config: LangGraph passes it by name, ``config``."""

    def __call__(self, state: RouterState, config: RunnableConfig) -> dict[str, Any]: ...


def _prefill_node(router: Any, catalog: TaskCatalog) -> _ConfigNode:
    """A node that starts the router's cache prefill of the conversation on a decision thread (the bounded pool,
    :func:`~task_router._budget.run_in_background`) and returns at once: the turn's reply is not delayed, and a
    failure there only costs the next decision its cache."""

    def prefill(state: RouterState, config: RunnableConfig) -> dict[str, Any]:
        messages = state.get("messages") or []
        thread_id = (config.get("configurable") or {}).get("thread_id")
        if not messages or thread_id is None:
            return {}
        payload = {"messages": list(messages), "catalog": catalog}
        prefill_config: RunnableConfig = {"configurable": {"thread_id": thread_id}}

        def run() -> None:
            try:
                router.prefill(payload, prefill_config)
            except Exception:  # a cache warm-up must never break a conversation
                logger.warning("prefill of thread %s failed; its next decision rebuilds the cache", thread_id)

        run_in_background(run)
        return {}

    return prefill


def _no_model_task(state: RouterState) -> dict[str, Any]:
    raise ValueError(
        f"task {state.get('active_task')!r} has no subgraph and no model was given: pass model=... or task_graphs"
    )
