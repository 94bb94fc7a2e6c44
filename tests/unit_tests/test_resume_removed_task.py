"""A pending turn (the process died mid-turn) resumed after its task left the catalogue gets a reply: a turn not yet
routed is routed over the current catalogue; one already routed to the removed task is told the task is no longer
offered (scripted router, fake chat model, SQLite threads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage

from task_router import TaskCatalog, create_router_graph
from task_router._task_graph import task_gone_reply
from task_router.persistence import sqlite_checkpointer
from task_router.reliability import pending_turn, resume_pending_turn
from task_router.routers._base import Prediction
from tests.unit_tests.fakes import Scripted

CFG: Any = {"configurable": {"thread_id": "t1"}}


def _answer(routing: Any) -> Prediction:
    text = routing.last_user_text
    for word, task in (("recap", "meeting_recap"), ("post", "linkedin_post")):
        if word in text and task in routing.catalog:
            return Prediction(task)
    return Prediction(routing.active_task)  # the active task goes on; with none, NONE


def _graph(db: Path, catalog: TaskCatalog, **compile_options: Any) -> Any:
    writer = GenericFakeChatModel(messages=iter([AIMessage(f"reply {i}") for i in range(10)]))
    graph = create_router_graph(catalog, router=Scripted(_answer), model=writer)
    return graph.compile(checkpointer=sqlite_checkpointer(db), **compile_options)


def _without(name: str) -> TaskCatalog:
    catalog = TaskCatalog.demo()
    catalog.remove(name)
    return catalog


def _routed_then_crashed(db: Path, *turns: str) -> None:
    """Every turn but the last runs whole; the last is routed, then the process dies before its task replies."""
    whole = _graph(db, TaskCatalog.demo())
    for text in turns[:-1]:
        whole.invoke({"messages": [HumanMessage(text)]}, CFG, durability="sync")
    crashing = _graph(db, TaskCatalog.demo(), interrupt_before=["task"])
    crashing.invoke({"messages": [HumanMessage(turns[-1])]}, CFG, durability="sync")


def test_a_pending_turn_routed_to_a_removed_task_is_told_so_and_no_task_stays_active(tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    _routed_then_crashed(db, "Please recap my meeting", "write a post: we shipped")
    graph = _graph(db, _without("linkedin_post"))
    assert pending_turn(graph, CFG) == "write a post: we shipped"
    out = resume_pending_turn(graph, CFG)
    assert out is not None
    assert out["messages"][-1].type == "ai" and out["messages"][-1].content == task_gone_reply("linkedin_post")
    assert [(d["event"], d["task"]) for d in out["decisions"]] == [  # one decision per user turn
        ("START", "meeting_recap"),
        ("SWITCH", "linkedin_post"),
    ]
    assert out["active_task"] is None
    assert pending_turn(graph, CFG) is None


def test_a_first_turn_routed_to_a_removed_task_is_told_so(tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    _routed_then_crashed(db, "write a post: we shipped")
    graph = _graph(db, _without("linkedin_post"))
    out = resume_pending_turn(graph, CFG)
    assert out is not None
    assert out["messages"][-1].type == "ai" and out["messages"][-1].content == task_gone_reply("linkedin_post")
    assert [(d["event"], d["task"]) for d in out["decisions"]] == [("START", "linkedin_post")]
    assert out["active_task"] is None
    assert pending_turn(graph, CFG) is None


def test_a_pending_turn_whose_task_is_still_there_keeps_its_decision(tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    _routed_then_crashed(db, "write a post: we shipped")
    graph = _graph(db, _without("meeting_recap"))  # another task removed: the decision made still holds
    out = resume_pending_turn(graph, CFG)
    assert out is not None and out["messages"][-1].content == "What is the post about?"  # the task's own reply
    assert [(d["event"], d["task"]) for d in out["decisions"]] == [("START", "linkedin_post")]
    assert out["active_task"] == "linkedin_post"


def test_a_pending_turn_not_yet_routed_while_its_active_task_was_removed_is_answered(tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    _graph(db, TaskCatalog.demo()).invoke({"messages": [HumanMessage("write a post")]}, CFG, durability="sync")
    _graph(db, TaskCatalog.demo(), interrupt_before=["router"]).invoke(
        {"messages": [HumanMessage("we shipped")]}, CFG, durability="sync"
    )
    graph = _graph(db, _without("linkedin_post"))
    out = resume_pending_turn(graph, CFG)
    assert out is not None and out["messages"][-1].content.startswith("I can't help with that")
    assert [d["event"] for d in out["decisions"]] == ["START", "NONE"] and out["active_task"] is None


def _close_call(routing: Any) -> Prediction:
    if "recap" in routing.last_user_text:  # "a recap post": meeting_recap or linkedin_post, too close to call
        close = (("meeting_recap", False, 0.46), ("linkedin_post", False, 0.44))
        return Prediction("meeting_recap", alternatives=close)
    return _answer(routing)


@pytest.mark.parametrize("removed", [["linkedin_post"], ["linkedin_post", "meeting_recap"]])
def test_a_pending_question_between_tasks_since_removed_is_answered(tmp_path: Path, removed: list[str]) -> None:
    # the clarify node raised "a clarifying question needs two tasks of the catalogue": the turn was never answered
    db = tmp_path / "threads.sqlite"
    asking = create_router_graph(TaskCatalog.demo(), router=Scripted(_close_call), model=None, clarify_margin=0.1)
    asking.compile(checkpointer=sqlite_checkpointer(db), interrupt_before=["clarify"]).invoke(
        {"messages": [HumanMessage("a recap post")]}, CFG, durability="sync"
    )
    catalog = TaskCatalog.demo()
    for name in removed:
        catalog.remove(name)
    graph = create_router_graph(catalog, router=Scripted(_close_call), model=None, clarify_margin=0.1)
    graph = graph.compile(checkpointer=sqlite_checkpointer(db))
    out = resume_pending_turn(graph, CFG)
    assert out is not None and out["messages"][-1].type == "ai"
    reply = out["messages"][-1].content
    if "meeting_recap" in catalog:  # one of the two left: asked about alone
        assert reply == f"Do you mean {catalog['meeting_recap'].title}?"
    else:  # neither: what the assistant can do
        assert reply.startswith("I can't help with that here") and catalog.tasks[0].title in reply
    assert out.get("active_task") is None and pending_turn(graph, CFG) is None
