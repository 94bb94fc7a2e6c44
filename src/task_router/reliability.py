"""Reliability: routers composed with retries and fallback stages, and threads interrupted mid-turn resumed.

- Composition: :func:`make_reliable` and its fallback stages (:class:`FallbackStage`, from
  :mod:`task_router.routers._fallbacks`), the decision time-out (``TIMEOUT_KEY``, :class:`DecisionTimeout`).
- Threads interrupted mid-turn (process killed, model hung): find the pending turn and replay it
  (:func:`pending_turn`, :func:`resume_pending_turn`).
(Test fixtures live under tests/: the fault-injecting local server, tests/fault_server.py, and the hostile-turn
cases against prompt injection, tests/injection_cases.py.)
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import convert_to_messages
from langchain_core.runnables import RunnableConfig
from langgraph.constants import START

from task_router._budget import TIMEOUT_KEY, DecisionTimeout
from task_router._router_input import is_user_message
from task_router.routers._fallbacks import KEEP_ACTIVE, FallbackStage, embedding_available, make_reliable

__all__ = [
    "KEEP_ACTIVE",
    "TIMEOUT_KEY",
    "DecisionTimeout",
    "FallbackStage",
    "embedding_available",
    "make_reliable",
    "pending_turn",
    "resume_pending_turn",
]


# LangGraph's default ("async") writes a step's checkpoint while the next step runs: a process that dies inside
# the router node can take the user's message with it. "sync" saves the message before the router runs.
DURABILITY = "sync"


def pending_turn(graph: Any, config: RunnableConfig) -> str | None:
    """The text of a user turn whose routing never finished, or None when the thread is consistent.

    When a process dies while a turn is being routed, LangGraph's checkpoint already holds the user's
    message (with ``durability="sync"`` the input is saved before the router node runs) and names the router as
    the next node (or, killed right after the input was saved, LangGraph's start node with the message as its
    input), but the thread has no decision for that message. Such a turn is *replayable*: see
    :func:`resume_pending_turn`.
    """
    snapshot = graph.get_state(config)
    messages = snapshot.values.get("messages") or []
    if tuple(snapshot.next) == (START,):
        # Killed right after the input checkpoint: the message is saved as the input, not yet in the state.
        messages = _saved_input_messages(graph, snapshot.config)
    # Killed after a step's writes were saved but before its checkpoint: no next node, the step's task still listed.
    unfinished = bool(snapshot.next) or bool(snapshot.tasks)
    if not unfinished or not messages or not is_user_message(messages[-1]):
        return None
    return messages[-1].text if hasattr(messages[-1], "text") else str(messages[-1].content)


def _saved_input_messages(graph: Any, config: RunnableConfig) -> list[Any]:
    saved = graph.checkpointer.get_tuple(config) if graph.checkpointer else None
    payload = saved.checkpoint["channel_values"].get(START) if saved else None
    try:
        return convert_to_messages(payload.get("messages") or []) if isinstance(payload, dict) else []
    except (ValueError, TypeError, NotImplementedError):
        return []  # an input this graph would refuse too: nothing to resume


def resume_pending_turn(graph: Any, config: RunnableConfig) -> dict[str, Any] | None:
    """Finish an interrupted turn from its checkpoint (``graph.invoke(None, config)``); None if there is none.

    Call it when a thread is reopened (e.g. after a crash) before sending the next user message, so that
    every user message gets exactly one decision. A turn is only pending if its message was saved before the
    process died: run the graph with ``durability="sync"`` (LangGraph's default, "async", may lose it when the
    process dies inside the router).

    The turn is finished against the catalogue the graph has now: a turn not yet routed is routed over it; one
    the router had already sent to a task that has since left the catalogue gets the task node's reply saying the
    task is no longer offered (:func:`task_router._task_graph.task_gone_reply`), and no task stays active.

    Example:
        >>> from task_router.persistence import sqlite_checkpointer
        >>> saver = sqlite_checkpointer("threads.sqlite")  # doctest: +SKIP
        >>> graph = create_router_graph(catalog, model=model).compile(checkpointer=saver)  # doctest: +SKIP
        >>> resume_pending_turn(graph, {"configurable": {"thread_id": "t1"}})  # doctest: +SKIP
    """
    if pending_turn(graph, config) is None:
        return None
    return graph.invoke(None, config, durability=DURABILITY)
