"""`task-router chat`: a thread saved in SQLite, resumed with --thread, and a turn cut off by a crash finished on
resume (scripted router and fake chat model: this tests the command, not a model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from shortlist_fakes import Scripted
from typer.testing import CliRunner

from task_router import TaskCatalog, create_router_graph
from task_router.cli import app
from task_router.persistence import sqlite_checkpointer
from task_router.routers.base import Prediction


def _router() -> Scripted:
    return Scripted(lambda routing: Prediction("meeting_recap" if "recap" in routing.last_user_text else None))


@pytest.fixture(autouse=True)
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("task_router.cli.chat.build_router", lambda kind, model, base_url=None, **options: _router())
    replies = GenericFakeChatModel(messages=iter([AIMessage(f"reply {i}") for i in range(20)]))
    monkeypatch.setattr("task_router.graph.load_chat_model", lambda model, **kw: replies)
    monkeypatch.setenv("COLUMNS", "200")


def chat(*args: str, text: str) -> str:
    result = CliRunner().invoke(app, ["chat", *args], input=text)
    assert result.exit_code == 0, result.output
    return result.output


def test_thread_is_saved_and_resumed(tmp_path: Path) -> None:
    db = str(tmp_path / "threads.sqlite")
    first = chat("--db", db, "--thread", "t1", text="Please recap my meeting\n/quit\n")
    assert "START meeting_recap" in first and "resume with: task-router chat --thread t1" in first
    second = chat("--db", db, "--thread", "t1", text="thanks\n/quit\n")
    assert "resumed: 2 messages, active task: meeting_recap" in second
    assert "finishing the turn" not in second


def test_turn_cut_off_by_a_crash_is_finished_on_resume(tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    catalog = TaskCatalog.demo()
    graph = create_router_graph(catalog, router=_router(), model="embedded").compile(
        checkpointer=sqlite_checkpointer(db), interrupt_before=["router"]
    )
    config = {"configurable": {"thread_id": "t2"}}
    graph.invoke({"messages": [HumanMessage("recap the design review")]}, config)  # stops before routing
    assert not graph.get_state(config).values.get("decisions")
    out = chat("--db", str(db), "--thread", "t2", text="/quit\n")
    assert "finishing the turn that was interrupted last time" in out and "START meeting_recap" in out


def test_resume_shows_the_last_turns_and_the_active_task(tmp_path: Path) -> None:
    db = str(tmp_path / "threads.sqlite")
    chat("--db", db, "--thread", "t3", text="hello there\nPlease recap my meeting\nrecap notes: X, Bob owns Y\n/quit\n")
    out = chat("--db", db, "--thread", "t3", text="/quit\n")
    assert "resumed: 6 messages, active task: meeting_recap" in out
    assert "Meeting recap (meeting_recap): inputs given so far: notes" in out
    assert "... 2 earlier messages" in out
    shown = [line for line in out.splitlines() if line.startswith(("you>", "assistant>"))]
    assert shown[:4] == [
        "you> Please recap my meeting",
        "assistant> Could you paste the meeting notes or transcript?",
        "you> recap notes: X, Bob owns Y",
        "assistant> reply 0",
    ]


def test_goodbye_is_on_its_own_line_after_ctrl_d(tmp_path: Path) -> None:
    out = chat("--db", str(tmp_path / "t.sqlite"), "--thread", "t4", text="")  # end of input at the prompt
    assert "\nthread t4 saved; resume with: task-router chat --thread t4" in out
    assert not any(line.startswith("you>") and "saved" in line for line in out.splitlines())
