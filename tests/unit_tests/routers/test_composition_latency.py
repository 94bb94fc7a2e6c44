"""Issue 24, item 4: a decision's ``latency_ms`` is the wall time of the whole composition that produced it
(every attempt of the primary router, the waits between retries, the fallback stages), not only the stage that
decided; ``stage`` says which stage decided and ``stage_latency_ms`` how long that stage alone took. Only lower
bounds are checked (a time-out or a back-off is a wait of at least that long): no test depends on speed."""

from __future__ import annotations

import asyncio

from langgraph.checkpoint.memory import InMemorySaver

from task_router import TaskCatalog, create_router_graph
from task_router.routers._fallbacks import KEEP_ACTIVE, FallbackStage, KeepActiveRouter, make_reliable, timed
from tests.unit_tests.routers.hanging import (
    hanging_router,
    release_hung_fakes,  # noqa: F401 (an autouse fixture: it runs for each test here)
)
from tests.unit_tests.routers.test_fallbacks import Flaky, HttpError

BUDGET_S = 0.5
TURN = {"messages": ["write the follow-up email"], "active_task": "recap"}


def test_a_fallback_decision_counts_the_primary_time_out(catalog: TaskCatalog) -> None:
    decision = make_reliable(hanging_router(catalog, BUDGET_S), fallback=None).invoke(dict(TURN))
    assert (decision.event, decision.task, decision.stage, decision.router) == (
        "CONTINUE",
        "recap",
        KEEP_ACTIVE,
        "hanging",
    )
    assert "timed out after 0.5 s" in decision.fallback
    assert decision.latency_ms >= BUDGET_S * 1000  # before: the keep-active stage's own fraction of a millisecond
    assert decision.stage_latency_ms is not None and decision.stage_latency_ms <= decision.latency_ms


def test_a_fallback_router_decision_counts_the_primary_and_names_its_stage(catalog: TaskCatalog) -> None:
    backup = Flaky(catalog=catalog)
    decision = make_reliable(hanging_router(catalog, BUDGET_S), fallback=backup).invoke(dict(TURN))
    assert (decision.task, decision.stage) == ("email", "flaky")
    assert decision.latency_ms >= BUDGET_S * 1000
    assert decision.stage_latency_ms <= decision.latency_ms


def test_retries_and_their_waits_are_counted_when_the_primary_decides(catalog: TaskCatalog) -> None:
    router = Flaky(HttpError(503), HttpError(503), catalog=catalog)
    # waits of at least 0.2 s then 0.4 s (exponential back-off, jitter only adds)
    decision = make_reliable(router, backoff_s=0.2, max_backoff_s=1.0).invoke(dict(TURN))
    assert router.attempts == 3 and (decision.task, decision.stage, decision.fallback) == ("email", None, None)
    assert decision.latency_ms >= 600
    assert decision.stage_latency_ms <= decision.latency_ms  # the attempt that decided


def test_the_async_path_counts_the_whole_composition_too(catalog: TaskCatalog) -> None:
    decision = asyncio.run(make_reliable(hanging_router(catalog, BUDGET_S), fallback=None).ainvoke(dict(TURN)))
    assert decision.stage == KEEP_ACTIVE and decision.latency_ms >= BUDGET_S * 1000


def test_a_router_alone_keeps_its_own_latency(catalog: TaskCatalog) -> None:
    decision = Flaky(catalog=catalog).invoke(dict(TURN))
    assert decision.stage_latency_ms is None and decision.latency_ms >= 0


def test_a_users_own_composition_in_the_graph_counts_its_whole_time(catalog: TaskCatalog) -> None:
    composed = hanging_router(catalog, BUDGET_S).with_fallbacks(
        [FallbackStage(KeepActiveRouter(catalog=catalog), primary="hanging")], exception_key="error"
    )
    single = timed(composed).invoke(dict(TURN))
    assert single.stage == KEEP_ACTIVE and single.latency_ms >= BUDGET_S * 1000
    echo = {name: (lambda state: {"messages": [("ai", "ok")]}) for name in catalog.names}
    graph = create_router_graph(catalog, router=composed, model=None, task_graphs=echo)
    state = graph.compile(checkpointer=InMemorySaver()).invoke(
        {"messages": [("user", "write the follow-up email")]}, {"configurable": {"thread_id": "own"}}
    )
    (decision,) = state["decisions"]
    assert decision["stage"] == KEEP_ACTIVE and decision["latency_ms"] >= BUDGET_S * 1000
