"""Node paths of conversations, checked with agentevals' strict graph trajectory match (scripted models)."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver

from task_router import create_router_graph, make_router
from task_router.evaluators.trajectory import (
    assert_node_path,
    decisions_trajectory,
    evaluate_node_path,
    thread_trajectory,
)
from tests.conftest import choice, scripted_model

CFG = {"configurable": {"thread_id": "t"}}


def compile_graph(catalog, router_replies, writer_replies=(), **kwargs):
    router = make_router("structured", model=scripted_model(*router_replies))
    writer = GenericFakeChatModel(messages=iter(AIMessage(r) for r in writer_replies))
    compile_kwargs = {"interrupt_before": kwargs.pop("interrupt_before")} if "interrupt_before" in kwargs else {}
    graph = create_router_graph(catalog, router=router, model=writer, **kwargs)
    return graph.compile(checkpointer=InMemorySaver(), **compile_kwargs)


def chat(app, *texts):
    for text in texts:
        state = app.invoke({"messages": [("user", text)]}, CFG)
    return state


def test_conversation_path_matches_strictly(catalog):
    app = compile_graph(
        catalog, [choice("recap"), choice("recap"), choice("recap", True), choice("NONE")], ["RECAP: X decided."]
    )
    state = chat(app, "Recap my meeting", "We decided X.", "Thanks!", "What's the weather?")
    expected = ["START", "CONTINUE", "END", "NONE"]
    assert [d["event"] for d in state["decisions"]] == expected
    assert thread_trajectory(app, CFG)["steps"] == [
        ["__start__", "router", "task"],
        ["__start__", "router", "task"],
        ["__start__", "router"],
        ["__start__", "router", "none"],
    ]
    assert evaluate_node_path(app, CFG, expected)["score"] is True
    assert_node_path(app, CFG, expected)
    # The path the recorded decisions imply is the path the graph took.
    result = evaluate_node_path(app, CFG, [(d["event"], d["task"]) for d in state["decisions"]])
    assert result["score"] is True and result["key"] == "graph_trajectory_strict_match"
    assert decisions_trajectory(state["decisions"])["steps"] == thread_trajectory(app, CFG)["steps"]


def test_a_wrong_path_is_reported(catalog):
    app = compile_graph(catalog, [choice("recap"), choice("post")], ["POST"])
    chat(app, "Recap my meeting", "Now a LinkedIn post")
    assert evaluate_node_path(app, CFG, ["START", "END"])["score"] is False
    assert evaluate_node_path(app, CFG, ["START"])["score"] is False  # one turn missing
    with pytest.raises(AssertionError, match="node path differs"):
        assert_node_path(app, CFG, ["START", "NONE"])


def test_custom_task_nodes_and_interrupts(catalog):
    app = compile_graph(
        catalog,
        [choice("post"), choice("recap")],
        task_graphs={"post": lambda state: {"messages": [AIMessage("custom post")]}},
        interrupt_before=["task"],
    )
    chat(app, "A LinkedIn post")  # its own node, no interrupt
    app.invoke({"messages": [("user", "Recap my meeting")]}, CFG)  # stops before the generic task subgraph
    assert app.get_state(CFG).next == ("task",)
    app.invoke(None, CFG)  # resume
    assert app.get_state(CFG).values["active_task"] == "recap"
    # A turn stopped by interrupt_before and resumed is one turn of the path.
    assert thread_trajectory(app, CFG)["steps"] == [["__start__", "router", "post"], ["__start__", "router", "task"]]
    assert_node_path(app, CFG, [("START", "post"), ("SWITCH", "recap")], task_nodes=["post"])
    with pytest.raises(AssertionError):  # without task_nodes, START post would be expected in the generic "task"
        assert_node_path(app, CFG, [("START", "post"), ("SWITCH", "recap")])
