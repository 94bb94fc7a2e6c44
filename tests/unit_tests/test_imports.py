"""The public names of `task_router` (as langchain-openai pins its own): adding or removing one is a decision."""

from __future__ import annotations

import task_router

EXPECTED_ALL = [
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
]


def test_all_imports() -> None:
    assert sorted(task_router.__all__) == sorted(EXPECTED_ALL)


def test_every_public_name_resolves() -> None:
    for name in task_router.__all__:
        assert getattr(task_router, name) is not None, name


def test_router_kinds_are_the_documented_ones() -> None:
    assert sorted(task_router.ROUTER_KINDS) == sorted(
        ["structured", "zero-shot", "few-shot-cot", "react", "scoring", "embedding", "learned", "cascade", "decision"]
    )
