"""The review session (pure logic) and its Textual UI driven headless with the pilot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from task_router.evaluation import load_dataset
from task_router.training._review import ReviewSession
from task_router.training._review_app import ReviewApp
from tests.conftest import FIXTURES

FIXTURE = FIXTURES / "train_tiny.jsonl"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "generated.jsonl"
    shutil.copy(FIXTURE, path)
    return path


def test_actions_move_and_are_saved(data: Path) -> None:
    session = ReviewSession(data)
    session.confirm()
    session.flag("is the weather a switch?")
    session.delete()
    assert session.position == 3
    assert session.counts() == {"confirmed": 1, "flagged": 1, "deleted": 1, "pending": 1}
    session.back()
    assert session.current is not None and session.current.id == "fx-3"
    state = json.loads((data.parent / "generated.jsonl.review.json").read_text())
    assert state["position"] == 2 and state["notes"] == {"fx-2": "is the weather a switch?"}


def test_resume_where_the_review_stopped(data: Path) -> None:
    first = ReviewSession(data)
    first.confirm()
    first.change_label(0, "NONE")
    resumed = ReviewSession(data)
    assert resumed.position == 1
    assert resumed.current is not None and resumed.current.id == "fx-2"
    assert resumed.current.labels[0].task == "NONE"


def test_change_label_rederives_events(data: Path) -> None:
    session = ReviewSession(data)
    record = session.change_label(4, "Flights.BookFlight")  # the weather question kept on the flight instead
    assert [(x.task, x.event) for x in record.labels] == [
        ("Flights.BookFlight", "START"),
        ("Flights.BookFlight", "CONTINUE"),
        ("Flights.BookFlight", "CONTINUE"),
        ("Weather.GetForecast", "SWITCH"),  # the closing turn still names the weather task
    ]
    record = session.change_label(6, "Flights.BookFlight")
    assert [x.event for x in record.labels] == ["START", "CONTINUE", "CONTINUE", "END"]
    with pytest.raises(ValueError, match="not in this conversation's catalogue"):
        session.change_label(4, "Made.Up")
    with pytest.raises(ValueError, match="not a labelled user turn"):
        session.change_label(1, "NONE")


def test_export_keeps_confirmed_with_changes(data: Path, tmp_path: Path) -> None:
    session = ReviewSession(data)
    session.change_label(0, "Hotels.ReserveRoom")
    session.confirm()
    session.flag()
    session.delete()
    out = tmp_path / "reviewed.jsonl"
    assert session.export(out) == 1
    exported = load_dataset(out)
    assert [r.id for r in exported] == ["fx-1"]
    assert exported[0].labels[0].task == "Hotels.ReserveRoom"
    assert [x.event for x in exported[0].labels] == ["START", "SWITCH", "SWITCH", "END"]
    assert session.export(out, include_flagged=True, include_pending=True) == 3


def test_boundaries_say_what_to_do(data: Path) -> None:
    session = ReviewSession(data)
    with pytest.raises(ValueError, match="first conversation"):
        session.back()
    for _ in range(4):
        session.confirm()
    assert session.done and session.current is None
    with pytest.raises(ValueError, match="finished"):
        session.confirm()


@pytest.mark.asyncio
async def test_app_keys_drive_the_session(data: Path) -> None:
    session = ReviewSession(data)
    app = ReviewApp(session)
    async with app.run_test() as pilot:
        await pilot.press("c", "f", "b")
        assert session.position == 1
        assert session.counts()["confirmed"] == 1 and session.counts()["flagged"] == 1
        await pilot.press("l")
        await pilot.press(*"0 NONE", "enter")
        assert session.current is not None and session.current.labels[0].task == "NONE"
        await pilot.press("d")
        assert session.status_of(1) == "deleted" and session.position == 2
        await pilot.press("l")
        await pilot.press(*"2 Nope", "enter")  # an invalid label is refused, nothing changes
        assert "fx-3" not in session.state.labels
        await pilot.press("q")
    assert ReviewSession(data).position == 2  # saved: a new session resumes there
