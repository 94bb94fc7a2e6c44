"""`task-router chat`: a thread saved in SQLite, resumed with --thread, a turn cut off by a crash finished on
resume, the reply streamed, and Ctrl-C stopping a reply without losing the thread (scripted router and fake chat
models: this tests the command, not a model)."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage
from rich.console import Console
from typer.testing import CliRunner

from task_router import TaskCatalog, create_router_graph
from task_router.cli import app
from task_router.cli._chat import StopOnRequest, format_decision
from task_router.persistence import sqlite_checkpointer
from task_router.routers._base import Prediction
from tests.unit_tests.fakes import Scripted


def _router() -> Scripted:
    def answer(routing: Any) -> Prediction:
        text = routing.last_user_text
        return Prediction("meeting_recap" if "recap" in text else None, closing="thanks" in text.lower())

    return Scripted(answer)


@pytest.fixture(autouse=True)
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("task_router.cli._chat.build_router", lambda kind, model, base_url=None, **options: _router())
    replies = GenericFakeChatModel(messages=iter([AIMessage(f"reply {i}") for i in range(20)]))
    monkeypatch.setattr("task_router._graph.load_chat_model", lambda model, **kw: replies)
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


def test_a_pending_turn_whose_task_left_the_catalogue_is_answered_on_resume(tmp_path: Path) -> None:
    db = tmp_path / "threads.sqlite"
    chat("--db", str(db), "--thread", "t5", text="Please recap my meeting\n/quit\n")
    crashing = create_router_graph(TaskCatalog.demo(), router=_router(), model="embedded").compile(
        checkpointer=sqlite_checkpointer(db), interrupt_before=["task"]
    )
    config = {"configurable": {"thread_id": "t5"}}
    crashing.invoke({"messages": [HumanMessage("recap notes: X, Bob owns Y")]}, config)  # routed, no reply
    without_recap = TaskCatalog.demo()
    without_recap.remove("meeting_recap")
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(yaml.safe_dump(without_recap.to_records()), encoding="utf-8")
    out = chat("--db", str(db), "--thread", "t5", "--catalog", str(catalog), text="/quit\n")
    assert "active task: meeting_recap" not in out  # the removed task is not shown as active
    assert "no active task (meeting_recap was removed from the catalogue)" in out
    assert "finishing the turn that was interrupted last time" in out
    finished = out.split("finishing the turn that was interrupted last time", 1)[1]
    assert "assistant> I can't go on with meeting_recap: it is no longer offered here" in finished  # a reply
    graph, _ = _thread(db, "t5")
    state = graph.get_state(config)
    assert [d["event"] for d in state.values["decisions"]] == ["START", "CONTINUE"]  # one decision per user turn
    assert state.values["messages"][-1].type == "ai" and state.values["active_task"] is None and not state.next


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


# --- streaming and Ctrl-C -------------------------------------------------------------------------------------------

WORDS = [f"w{i}" for i in range(12)]


class Interrupting(GenericFakeChatModel):
    """Streams its replies word by word; after ``after`` words of its first reply it presses Ctrl-C (SIGINT to this
    process) and waits until the chat has taken it, as a user would while the reply is being written."""

    after: int | None = None
    handlers: list = []  # noqa: RUF012 (the StopOnRequest handlers of the turns, to see when Ctrl-C was taken)

    def _stream(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Iterator[Any]:
        for i, chunk in enumerate(super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs)):
            if self.after is not None and i == 2 * self.after:  # chunks alternate words and spaces
                self.after = None
                press_ctrl_c(lambda: self.handlers[-1].requested.is_set())
            yield chunk


def press_ctrl_c(taken: Callable[[], bool]) -> None:
    os.kill(os.getpid(), signal.SIGINT)
    deadline = time.monotonic() + 10
    while not taken() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert taken(), "the chat did not take the Ctrl-C"


@pytest.fixture
def interrupting(monkeypatch: pytest.MonkeyPatch) -> Interrupting:
    model = Interrupting(messages=iter([AIMessage(" ".join(WORDS)), AIMessage("second reply")]))
    monkeypatch.setattr("task_router._graph.load_chat_model", lambda model_, **kw: model)

    class Recorded(StopOnRequest):
        def __init__(self, requested: Any) -> None:
            super().__init__(requested)
            model.handlers.append(self)

    monkeypatch.setattr("task_router.cli._chat.StopOnRequest", Recorded)
    return model


def _thread(db: Path, thread: str) -> Any:
    graph = create_router_graph(TaskCatalog.demo(), router=_router(), model="embedded")
    return graph.compile(checkpointer=sqlite_checkpointer(db)), {"configurable": {"thread_id": thread}}


def test_the_reply_is_streamed_token_by_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    real_print = Console.print

    def spy(self: Console, *objects: Any, **kwargs: Any) -> None:
        shown.append("".join(map(str, objects)))
        real_print(self, *objects, **kwargs)

    monkeypatch.setattr(Console, "print", spy)
    out = chat("--db", str(tmp_path / "t.sqlite"), text="recap notes: a, b and c\n/quit\n")
    decision = next(i for i, text in enumerate(shown) if "START" in text and "meeting_recap" in text)
    words = [i for i, text in enumerate(shown) if text in ("reply", " ", "0")]
    assert words and min(words) > decision  # the decision line first, then the reply in pieces
    assert len(words) == 3 and "assistant> reply 0\n" in out


def test_ctrl_c_stops_the_reply_and_keeps_the_thread(tmp_path: Path, interrupting: Interrupting) -> None:
    db = tmp_path / "threads.sqlite"
    interrupting.after = 3
    out = chat("--db", str(db), "--thread", "c1", text="recap notes: X, Bob owns Y\nrecap it shorter\n/quit\n")
    # The reply stops at the token on which Ctrl-C is seen (LangGraph may have shown that token already).
    shown = re.search(r"assistant> (w0 w1 w2(?: w3)?) \(stopped\)\n", out)
    assert shown is not None and "w4" not in out, out
    assert "reply stopped; the thread is kept" in out
    assert "assistant> second reply" in out  # the next turn works
    graph, config = _thread(db, "c1")
    state = graph.get_state(config)
    assert not state.next
    messages = state.values["messages"]
    assert [(m.type, m.text) for m in messages] == [
        ("human", "recap notes: X, Bob owns Y"),
        ("ai", shown.group(1)),  # what the user saw
        ("human", "recap it shorter"),
        ("ai", "second reply"),
    ]
    assert messages[1].response_metadata["finish_reason"] == "stopped_by_user"
    assert [d["event"] for d in state.values["decisions"]] == ["START", "CONTINUE"]
    resumed = chat("--db", str(db), "--thread", "c1", text="/quit\n")
    assert "finishing the turn" not in resumed and "resumed: 4 messages" in resumed


def test_ctrl_c_while_routing_keeps_the_decision_and_skips_the_reply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupting: Interrupting
) -> None:
    def route(routing: Any) -> Prediction:
        if "first" in routing.last_user_text:
            press_ctrl_c(lambda: interrupting.handlers[-1].requested.is_set())
        return Prediction("meeting_recap")

    monkeypatch.setattr(
        "task_router.cli._chat.build_router", lambda kind, model, base_url=None, **options: Scripted(route)
    )
    db = tmp_path / "threads.sqlite"
    out = chat(
        "--db",
        str(db),
        "--thread",
        "c2",
        text="recap notes: the first meeting\nrecap notes: the second meeting went well\n/quit\n",
    )
    assert "START meeting_recap" in out and "reply stopped" in out
    assert "w0" in out  # the second turn's reply is the model's first
    graph, config = _thread(db, "c2")
    state = graph.get_state(config)
    assert [m.type for m in state.values["messages"]] == ["human", "human", "ai"]
    assert [d["event"] for d in state.values["decisions"]] == ["START", "CONTINUE"]
    assert not state.next


def test_a_stopped_reply_logs_no_warning(
    tmp_path: Path, interrupting: Interrupting, caplog: pytest.LogCaptureFixture
) -> None:
    interrupting.after = 1
    chat("--db", str(tmp_path / "t.sqlite"), text="recap notes: X, Bob owns Y\n/quit\n")
    assert len(interrupting.handlers) == 1 and interrupting.handlers[0].requested.is_set()
    assert not [r for r in caplog.records if "ReplyStopped" in r.getMessage()]


def _plain(decision: dict[str, Any]) -> str:
    from rich.text import Text

    return Text.from_markup(format_decision({"latency_ms": 9.2, **decision})).plain


def test_decision_lines_say_off_topic_and_ask() -> None:
    assert _plain({"event": "START", "task": "follow_up_email", "confidence": 0.83}) == (
        "[route] START follow_up_email  conf 0.83  9 ms"
    )
    digression = {"event": "NONE", "task": None, "active_task_after": "meeting_recap", "confidence": 0.91}
    assert _plain(digression) == "[route] NONE (off topic; meeting_recap stays active)  conf 0.91  9 ms"
    assert _plain({"event": "NONE", "task": None, "active_task_after": None}) == "[route] NONE -  9 ms"
    asking = {"event": "START", "task": "find_trains", "clarify": ["find_trains", "buy_train_tickets"]}
    assert _plain(asking) == "[route] ASK find_trains | buy_train_tickets  9 ms"


def test_an_off_topic_turn_keeps_the_task_in_the_chat(tmp_path: Path) -> None:
    text = "Please recap my meeting\nWhat is the weather on Mars?\nthanks\n/quit\n"
    out = chat("--db", str(tmp_path / "t.sqlite"), "--thread", "d", text=text)
    assert "[route] START meeting_recap" in out
    assert "[route] NONE (off topic; meeting_recap stays active)" in out
    assert "[route] END meeting_recap" in out


@pytest.mark.parametrize("thread", ["a" * 30_000, "a" * 129, "two words", "tab\there", ""])
def test_an_unusable_thread_id_is_a_usage_error_before_anything_loads(thread: str) -> None:
    from typer.testing import CliRunner

    from task_router.cli import app

    result = CliRunner().invoke(app, ["chat", "--thread", thread, "--db", "/nonexistent/dir/x.sqlite"])
    assert result.exit_code == 2 and "not a usable thread id" in result.output
    assert len(result.output) < 2_000  # the id is shortened, not echoed whole


def test_a_thread_id_of_the_longest_allowed_length_is_kept() -> None:
    from task_router.cli._chat import MAX_THREAD_ID_CHARS, check_thread_id

    thread = "[b]" + "x" * (MAX_THREAD_ID_CHARS - 3)  # markup-like text is shown escaped, not refused
    assert check_thread_id(thread) == thread


def test_the_chat_says_it_is_loading_and_that_a_first_run_converts_the_embedded_model(tmp_path, monkeypatch) -> None:
    """Issue 27, item 6: the first chat was silent for ~70 s while it converted the embedded model."""
    from task_router.cli._chat import _loading_note

    monkeypatch.setenv("TASK_ROUTER_CACHE", str(tmp_path))
    assert "first run: converting it once" in _loading_note("embedded")
    (tmp_path / "smollm2-135m-instruct").mkdir()
    (tmp_path / "smollm2-135m-instruct" / "config.json").write_text("{}")
    assert (
        _loading_note("embedded")
        == _loading_note("openai:gpt-4o-mini")
        == ("loading the router and the models (a few seconds)...")
    )
