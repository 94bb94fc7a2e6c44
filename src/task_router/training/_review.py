"""Human review of (generated) training conversations: confirm, back, change label, flag, delete.

:class:`ReviewSession` is the pure logic; every action is saved at once to a JSON state file next to the data
(``<data>.review.json``), so a review can stop at any point and resume where it stopped. ``export`` writes the
reviewed data (deleted records out, changed labels applied) in the benchmark format. The terminal UI is
``task_router.training._review_app`` (``task-router review``).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from task_router._catalog import NONE_LABEL
from task_router.evaluation import ConversationRecord, load_dataset, parse_records
from task_router.training._sequences import labels_from_answers

Status = Literal["confirmed", "flagged", "deleted"]
STATUSES: tuple[Status, ...] = ("confirmed", "flagged", "deleted")


@dataclass
class ReviewState:
    """What the reviewer has done so far (the JSON state file)."""

    data: str
    position: int = 0
    status: dict[str, Status] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)  # record id -> {turn_index: task}

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("data", "position", "status", "notes", "labels")}


class ReviewSession:
    """Walk through a benchmark-format file one conversation at a time.

    Example:
        >>> session = ReviewSession("generated.jsonl")  # doctest: +SKIP
        >>> session.change_label(2, "Flights.BookFlight"); session.confirm()  # doctest: +SKIP
        >>> session.export("reviewed.jsonl")  # doctest: +SKIP
    """

    def __init__(self, data: str | Path, state_path: str | Path | None = None) -> None:
        self.data_path = Path(data)
        self.records: list[ConversationRecord] = load_dataset(self.data_path)
        ids = [r.id for r in self.records]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{data} has duplicate record ids: give every conversation a unique 'id' to review it")
        default_state = self.data_path.with_name(self.data_path.name + ".review.json")
        self.state_path = Path(state_path) if state_path else default_state
        self.state = self._load_state()

    # -- state ---------------------------------------------------------------------------------------------
    def _load_state(self) -> ReviewState:
        if not self.state_path.is_file():
            return ReviewState(data=str(self.data_path))
        try:
            raw = json.loads(self.state_path.read_text(encoding="utf-8"))
            state = ReviewState(**raw)
        except (json.JSONDecodeError, TypeError) as exc:
            raise ValueError(f"review state {self.state_path} is unreadable ({exc}): delete it to start over") from None
        state.position = min(max(0, state.position), len(self.records))
        return state

    def save(self) -> None:
        """Write the state atomically (a crash never leaves a half-written file)."""
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".review-", dir=self.state_path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.state.to_json(), handle, indent=1)
        os.replace(tmp, self.state_path)

    # -- reading -------------------------------------------------------------------------------------------
    @property
    def position(self) -> int:
        return self.state.position

    @property
    def done(self) -> bool:
        return self.state.position >= len(self.records)

    @property
    def current(self) -> ConversationRecord | None:
        return None if self.done else self.record(self.state.position)

    def record(self, index: int) -> ConversationRecord:
        """The record at ``index`` with the reviewer's label changes applied."""
        record = self.records[index]
        changes = self.state.labels.get(record.id)
        if not changes:
            return record
        answers: list[tuple[str | None, bool]] = []
        for label in record.labels:
            task = changes.get(str(label.turn_index), label.task)
            answers.append((None if task == NONE_LABEL else task, label.event == "END"))
        data = record.model_dump()
        data["labels"] = labels_from_answers([label.turn_index for label in record.labels], answers)
        return parse_records([data])[0]

    def status_of(self, index: int) -> Status | None:
        return self.state.status.get(self.records[index].id)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {status: 0 for status in STATUSES}
        for status in self.state.status.values():
            counts[status] += 1
        counts["pending"] = len(self.records) - sum(counts.values())
        return counts

    # -- actions (each one saved) ---------------------------------------------------------------------------
    def _require_current(self) -> ConversationRecord:
        if self.done:
            raise ValueError("the review is finished: go back to change an earlier conversation, or export")
        return self.records[self.state.position]

    def _mark(self, status: Status) -> None:
        record = self._require_current()
        self.state.status[record.id] = status
        self.state.position += 1
        self.save()

    def confirm(self) -> None:
        """The current conversation and its labels are right: keep it and move on."""
        self._mark("confirmed")

    def flag(self, note: str = "") -> None:
        """Unsure: keep it aside for later (not exported unless asked) and move on."""
        record = self._require_current()
        if note:
            self.state.notes[record.id] = note
        self._mark("flagged")

    def delete(self) -> None:
        """Unusable: leave it out of the export and move on."""
        self._mark("deleted")

    def back(self) -> None:
        """Return to the previous conversation (its earlier decision stays until replaced)."""
        if self.state.position == 0:
            raise ValueError("already at the first conversation: there is nothing to go back to")
        self.state.position -= 1
        self.save()

    def change_label(self, turn_index: int, task: str) -> ConversationRecord:
        """Set the task of a user turn of the current conversation (a catalogue name or NONE); the events of the
        whole conversation are re-derived. Returns the updated record."""
        record = self._require_current()
        label_turns = {label.turn_index for label in record.labels}
        if turn_index not in label_turns:
            raise ValueError(f"turn {turn_index} is not a labelled user turn: choose one of {sorted(label_turns)}")
        names = [str(t["name"]) for t in record.tasks]
        if task != NONE_LABEL and task not in names:
            raise ValueError(f"task {task!r} is not in this conversation's catalogue: choose one of {names} or NONE")
        self.state.labels.setdefault(record.id, {})[str(turn_index)] = task
        self.save()
        return self.record(self.state.position)

    # -- output --------------------------------------------------------------------------------------------
    def export(self, path: str | Path, *, include_flagged: bool = False, include_pending: bool = False) -> int:
        """Write the kept conversations (confirmed; flagged / pending if asked) with label changes applied."""
        keep: set[str | None] = {"confirmed"}
        if include_flagged:
            keep.add("flagged")
        if include_pending:
            keep.add(None)
        path = Path(path)
        count = 0
        with path.open("w", encoding="utf-8") as handle:
            for index in range(len(self.records)):
                if self.status_of(index) in keep:
                    handle.write(json.dumps(self.record(index).model_dump(), ensure_ascii=False) + "\n")
                    count += 1
        return count
