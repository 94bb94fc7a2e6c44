"""The conversation graph end to end on the real embedded model (router + generic task subgraph)."""

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from task_router import Task, TaskCatalog, create_router_graph
from task_router.routers import default_router_kind

pytestmark = pytest.mark.slow


def test_embedded_graph_routes_and_writes_a_deliverable():
    catalog = TaskCatalog(
        [
            Task(name="haiku", description="Write a short haiku poem about a topic the user gives."),
            Task(
                name="meeting_recap",
                description="Summarise meeting notes into decisions and action items.",
                inputs=[{"name": "notes", "description": "the meeting notes"}],
            ),
        ]
    )
    graph = create_router_graph(catalog, model="embedded").compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "embedded-1"}}
    turns = ["Write a haiku about the sea", "Make it about autumn instead", "I need a recap of my meeting"]
    for text in turns:
        state = graph.invoke({"messages": [("user", text)]}, cfg)
        assert state["messages"][-1].type == "ai" and state["messages"][-1].content.strip()
    decisions = state["decisions"]
    assert len(decisions) == len(turns)
    kind = default_router_kind("embedded")
    for decision in decisions:
        assert decision["router"] == kind
        assert decision["task"] in (*catalog.names, None)
    # A thread's history survives: one user and at least one assistant message per turn.
    assert sum(m.type == "human" for m in state["messages"]) == len(turns)
