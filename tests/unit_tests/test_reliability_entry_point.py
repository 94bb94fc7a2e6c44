"""Issue 26, item 2: one reliability entry point, make_reliable. The graph, add_task_router and the middleware
compose a bare Router (or a kind) with make_reliable's default and use any other Runnable as it is: there is no
``reliable=`` switch; opting out is ``make_reliable(router, retries=0, fallback=None)`` or any Runnable."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver

from task_router import TaskCatalog, TaskRouterMiddleware, add_task_router, create_router_graph
from task_router._router_input import RoutingInput
from task_router.reliability import KEEP_ACTIVE, make_reliable
from task_router.routers._base import Prediction, Router

TURN = "write the follow-up email"


@pytest.fixture(autouse=True)
def _no_embedding_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    # make_reliable's "auto" fallback would load the embedding model: the keep-active stage is enough here.
    monkeypatch.setattr("task_router.routers._fallbacks.embedding_available", lambda: False)


class Down(Router):
    """Fails every time, by default with a connection error (transient: the default composition retries it)."""

    kind = "down"

    def __init__(self, catalog: TaskCatalog, error: type[Exception] = ConnectionError) -> None:
        super().__init__(catalog=catalog, model_label="fake")
        self.attempts, self.error = 0, error

    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        self.attempts += 1
        raise self.error("model server unreachable")


def _decide(catalog: TaskCatalog, router: Any) -> dict[str, Any]:
    echo = {name: (lambda state: {"messages": [("ai", "ok")]}) for name in catalog.names}
    app = create_router_graph(catalog, router=router, model=None, task_graphs=echo).compile(
        checkpointer=InMemorySaver()
    )
    state = app.invoke({"messages": [("user", TURN)]}, {"configurable": {"thread_id": "1"}})
    return state["decisions"][-1]


def test_there_is_no_reliable_switch() -> None:
    for function in (create_router_graph, add_task_router, TaskRouterMiddleware.__init__):
        assert "reliable" not in inspect.signature(function).parameters, function


def test_a_bare_router_given_to_the_graph_gets_the_default_composition(catalog: TaskCatalog) -> None:
    router = Down(catalog)
    decision = _decide(catalog, router)  # the default waits 0.5 s, then 1 s, between the attempts
    assert (decision["event"], decision["stage"], decision["router"], decision["valid_format"]) == (
        "NONE",
        KEEP_ACTIVE,
        "down",
        False,
    )
    assert router.attempts == 3  # retried twice, as make_reliable(router) does
    assert "failed after 3 attempt(s)" in decision["fallback"]


def test_a_users_runnable_is_used_as_it_is(catalog: TaskCatalog) -> None:
    router = Down(catalog)
    decision = _decide(catalog, make_reliable(router, retries=0, fallback=None))  # the opt-out: no retry
    assert (decision["stage"], router.attempts) == (KEEP_ACTIVE, 1)
    router.attempts = 0
    with pytest.raises(ConnectionError, match="unreachable"):  # any Runnable around it: the error reaches you
        _decide(catalog, router.with_config(run_name="mine"))
    assert router.attempts == 1


def test_the_middleware_composes_a_bare_router_and_keeps_a_runnable(catalog: TaskCatalog) -> None:
    turn = {"messages": [("user", TURN)], "catalog": catalog}
    bare = Down(catalog, error=TimeoutError)  # a time-out is not retried: no waits here
    decision = TaskRouterMiddleware(catalog, router=bare).router.invoke(turn)
    assert (decision.stage, decision.router, bare.attempts) == (KEEP_ACTIVE, "down", 1)
    router = Down(catalog)
    own = TaskRouterMiddleware(catalog, router=make_reliable(router, retries=0, fallback=None))
    assert own.router.invoke(turn).stage == KEEP_ACTIVE and router.attempts == 1
    with pytest.raises(ConnectionError):
        TaskRouterMiddleware(catalog, router=router.with_config(run_name="mine")).router.invoke(turn)
