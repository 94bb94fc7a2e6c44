"""The conversation graph's state."""

from __future__ import annotations

import operator
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


class TaskState(TypedDict, total=False):
    """What a task subgraph reads and writes. Its reducers are idempotent, so a subgraph's final state can be
    merged back into the parent safely (an `operator.add` list here would be duplicated)."""

    messages: Annotated[list[AnyMessage], add_messages]
    active_task: str | None
    task_data: Annotated[dict[str, Any], merge_task_data]  # task name -> progress of its subgraph


class RouterState(TaskState, total=False):
    decisions: Annotated[list[dict[str, Any]], operator.add]  # RouteDecision.model_dump() per user turn
