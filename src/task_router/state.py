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


class RouterState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    active_task: str | None
    decisions: Annotated[list[dict[str, Any]], operator.add]  # RouteDecision.model_dump() per user turn
    task_data: Annotated[dict[str, Any], merge_task_data]  # task name -> progress of its subgraph
