"""Fuzzing the thread classes of issue 24: writers interleaving on one SQLite thread never lose an acknowledged
checkpoint, and any ``--thread`` value is a usable id or a usage error."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.base import empty_checkpoint

from task_router.cli._chat import check_thread_id
from task_router.persistence import ThreadConflictError, sqlite_checkpointer

CASES = settings(max_examples=200, deadline=5000, suppress_health_check=[HealthCheck.too_slow])


@CASES
@given(st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=30))
def test_interleaved_writers_never_lose_an_acknowledged_checkpoint(steps: list[tuple[int, bool]]) -> None:
    """Four writers; at each step one writes from the checkpoint it last read (or re-reads the thread first).
    A write is acknowledged only if the thread's latest checkpoint is then that write."""
    with tempfile.TemporaryDirectory() as folder:
        saver = sqlite_checkpointer(Path(folder) / "t.sqlite")
        base = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
        seen: dict[int, dict] = dict.fromkeys(range(4), base)
        acknowledged: list[str] = []
        for writer, reread in steps:
            if reread:
                latest = saver.get_tuple(base)
                seen[writer] = latest.config if latest else base
            checkpoint = empty_checkpoint()
            try:
                seen[writer] = saver.put(seen[writer], checkpoint, {"source": "loop", "step": 0}, {})
                acknowledged.append(checkpoint["id"])
            except ThreadConflictError:
                continue
            assert saver.get_tuple(base).checkpoint["id"] == checkpoint["id"]
        # every acknowledged checkpoint is on the thread's one line of history (none hidden on a side branch)
        history = [t.checkpoint["id"] for t in saver.list(base)]
        assert history[::-1] == acknowledged


@CASES
@given(st.text(max_size=400))
def test_any_thread_value_is_a_usable_id_or_a_usage_error(value: str) -> None:
    try:
        assert check_thread_id(value) == value
    except typer.BadParameter as exc:
        assert "not a usable thread id" in str(exc) and len(str(exc)) < 600
    else:
        assert 0 < len(value) <= 128 and not any(c.isspace() for c in value)


def test_the_guard_can_be_turned_off_for_time_travel(tmp_path: Path) -> None:
    base = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    saver = sqlite_checkpointer(tmp_path / "t.sqlite")
    first = saver.put(base, empty_checkpoint(), {"source": "input", "step": -1}, {})
    saver.put(first, empty_checkpoint(), {"source": "loop", "step": 0}, {})
    with pytest.raises(ThreadConflictError):
        saver.put(first, empty_checkpoint(), {"source": "loop", "step": 0}, {})
    sqlite_checkpointer(tmp_path / "t.sqlite", one_writer=False).put(first, empty_checkpoint(), {"step": 0}, {})
