"""A thread's decisions stay bounded (issue 25, item 2): the last FULL_DECISIONS whole, older ones compacted to
their small fields, one entry per user turn, so a long thread's checkpoint no longer grows by the model's raw
output every turn."""

from __future__ import annotations

from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from task_router import TaskCatalog, create_router_graph
from task_router._decision import RouteDecision
from task_router._task_graph import FULL_DECISIONS, add_decisions

BIG = "x" * 20_000


def _decision(payload: dict) -> RouteDecision:
    event = "CONTINUE" if payload.get("active_task") else "START"
    return RouteDecision(event=event, task="linkedin_post", router="test", raw_output=BIG, rationale=BIG)


def test_a_300_turn_thread_keeps_every_turn_and_a_bounded_decision_record() -> None:
    catalog = TaskCatalog.demo()
    echo = {name: (lambda state: {"messages": [("ai", "ok")]}) for name in catalog.names}
    graph = create_router_graph(catalog, router=RunnableLambda(_decision), model=None, task_graphs=echo)
    app = graph.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "long"}}
    for turn in range(300):
        state = app.invoke({"messages": [("user", f"turn {turn}")]}, config)
    decisions = state["decisions"]
    assert len(decisions) == 300  # one per user turn
    assert all(d["raw_output"] == BIG for d in decisions[-FULL_DECISIONS:])
    assert all(d["raw_output"] == "" and d["rationale"] is None for d in decisions[:-FULL_DECISIONS])
    assert [d["event"] for d in decisions] == ["START"] + ["CONTINUE"] * 299  # the small fields are all there
    _, blob = JsonPlusSerializer().dumps_typed(decisions)
    # before: 300 x 40 KB = 12 MB; now 20 whole (800 KB) + 280 small
    assert len(blob) < (FULL_DECISIONS + 5) * 2 * len(BIG)


def test_the_reducer_compacts_only_what_leaves_the_window() -> None:
    decisions: list[dict] = []
    for i in range(FULL_DECISIONS + 3):
        decisions = add_decisions(
            decisions, [{"event": "START", "task": str(i), "raw_output": BIG, "alternatives": [1]}]
        )
    assert [d["task"] for d in decisions] == [str(i) for i in range(FULL_DECISIONS + 3)]
    assert [bool(d["raw_output"]) for d in decisions] == [False] * 3 + [True] * FULL_DECISIONS
    assert decisions[0]["alternatives"] == [] and "rationale" not in decisions[0]  # absent fields stay absent
