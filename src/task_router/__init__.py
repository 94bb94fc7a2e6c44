"""langgraph-task-router: per-turn task routing for LangGraph / LangChain assistants."""

from __future__ import annotations

from pathlib import Path

from task_router.catalog import CatalogError, Task, TaskCatalog, TaskInput
from task_router.decision import EVENTS, Event, RouteDecision, derive_event
from task_router.graph import RouterState, create_router_graph
from task_router.models import load_chat_model
from task_router.routers import ROUTER_KINDS, Router, make_router

# evaluators/ has one home, at the repository root; the wheel carries it inside this package. In a source
# checkout (editable install), let `task_router.evaluators` resolve to the root folder.
if not (Path(__file__).parent / "evaluators").is_dir() and (Path(__file__).parents[2] / "evaluators").is_dir():
    __path__.append(str(Path(__file__).parents[2]))

__all__ = [
    "EVENTS",
    "ROUTER_KINDS",
    "CatalogError",
    "Event",
    "RouteDecision",
    "Router",
    "RouterState",
    "Task",
    "TaskCatalog",
    "TaskInput",
    "TaskRouterMiddleware",
    "create_router_graph",
    "derive_event",
    "load_chat_model",
    "make_router",
]


def __getattr__(name: str) -> object:
    if name == "TaskRouterMiddleware":  # needs langchain's agents; imported on first use
        from task_router.middleware import TaskRouterMiddleware

        return TaskRouterMiddleware
    raise AttributeError(f"module 'task_router' has no attribute {name!r}")
