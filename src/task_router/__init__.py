"""langgraph-task-router: per-turn task routing for LangGraph / LangChain assistants."""

from __future__ import annotations

from task_router._catalog import CatalogError, Task, TaskCatalog, TaskInput
from task_router._decision import EVENTS, Event, RouteDecision, derive_event
from task_router._graph import RouterState, add_task_router, create_router_graph
from task_router._resources import expose_checkout_packages
from task_router._router_input import off_topic_reply
from task_router.models import load_chat_model
from task_router.routers import ROUTER_KINDS, Router, make_router

expose_checkout_packages()  # in a source checkout, task_router.evaluators is the repository root's evaluators/

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
    "TaskRouterDecisionModel",
    "TaskRouterMiddleware",
    "add_task_router",
    "create_router_graph",
    "derive_event",
    "load_chat_model",
    "make_router",
    "off_topic_reply",
]


def __getattr__(name: str) -> object:
    if name == "TaskRouterMiddleware":  # needs langchain's agents; imported on first use
        from task_router.middleware import TaskRouterMiddleware

        return TaskRouterMiddleware
    if name == "TaskRouterDecisionModel":  # langchain_core.decisions; imported on first use
        from task_router.decision_models import TaskRouterDecisionModel

        return TaskRouterDecisionModel
    raise AttributeError(f"module 'task_router' has no attribute {name!r}")
