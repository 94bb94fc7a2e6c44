"""The conversation graph's state."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages


def merge_task_data(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Per-task progress: a task's entry is replaced by the update; an entry set to None is dropped."""
    merged = dict(left or {})
    for name, value in (right or {}).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


#: Decisions kept whole (raw output, rationale, alternatives) at the end of a thread's ``decisions``: what the
#: graph, the middleware and a reviewer read (the last decision, a question's pending choices, a few turns of
#: history). Older ones keep every field but those texts, so a long thread's checkpoint grows by ~0.5 KB a turn
#: instead of up to ~40 KB (two 20,000-character texts).
FULL_DECISIONS = 20
_TEXT_FIELDS: dict[str, Any] = {"raw_output": "", "rationale": None, "alternatives": []}


def add_decisions(left: list[dict[str, Any]] | None, right: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The ``decisions`` reducer: one entry per user turn, appended, the last :data:`FULL_DECISIONS` whole and
    the ones that fall out of that window compacted (``raw_output``, ``rationale`` and ``alternatives`` emptied;
    event, task, confidence, latency, fallback, stage... kept, so every count and trajectory still holds).

    Example:
        >>> decisions = [{"event": "START", "task": "recap", "raw_output": "x" * 100, "rationale": "why"}]
        >>> for _ in range(FULL_DECISIONS):
        ...     decisions = add_decisions(decisions, [{"event": "CONTINUE", "task": "recap", "raw_output": "y"}])
        >>> len(decisions), decisions[0]["event"], decisions[0]["raw_output"], decisions[-1]["raw_output"]
        (21, 'START', '', 'y')
    """
    merged = [*(left or []), *(right or [])]
    leaving = range(max(0, len(merged) - FULL_DECISIONS - len(right or [])), max(0, len(merged) - FULL_DECISIONS))
    for index in leaving:  # only those that just left the window: the older ones were compacted when they did
        decision = merged[index]
        if any(decision.get(key) for key in _TEXT_FIELDS):
            merged[index] = {**decision, **{key: value for key, value in _TEXT_FIELDS.items() if key in decision}}
    return merged


class TaskState(TypedDict, total=False):
    """What a task subgraph reads and writes. Its reducers are idempotent, so a subgraph's final state can be
    merged back into the parent safely (an `operator.add` list here would be duplicated)."""

    messages: Annotated[list[AnyMessage], add_messages]
    active_task: str | None
    task_data: Annotated[dict[str, Any], merge_task_data]  # task name -> progress of its subgraph


class RouterState(TaskState, total=False):
    decisions: Annotated[list[dict[str, Any]], add_decisions]  # RouteDecision.model_dump() per user turn
