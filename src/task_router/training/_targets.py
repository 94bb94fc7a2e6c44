"""What the scoring router must answer at each labelled turn: its training target.

The scoring router (``routers/_scoring.py``) scores ``" <task or NONE>\\n"`` after the question and, only for the
active task, appends ``"Finished: yes|no"``. So a label becomes (answer, closing):

| gold label                         | answer        | closing |
|------------------------------------|---------------|---------|
| START / SWITCH to X                | X             | None (not scored) |
| CONTINUE X                         | X             | False   |
| END of the active task X           | X             | True    |
| NONE (nothing fits; an active task stays active) | NONE | None |
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from task_router._catalog import NONE_LABEL
from task_router._decision import Event, active_after, derive_event
from task_router.evaluation import ConversationRecord


@dataclass(frozen=True)
class TurnTarget:
    """The decision taught at one user turn.

    Example:
        >>> TurnTarget(turn_index=0, active_before=None, answer="recap", closing=None).event
        'START'
    """

    turn_index: int
    active_before: str | None
    answer: str  # a task name, or NONE
    closing: bool | None  # None when the closing flag is not scored (the answer is not the active task)

    @property
    def predicted(self) -> str | None:
        return None if self.answer == NONE_LABEL else self.answer

    @property
    def event(self) -> Event:
        return derive_event(self.active_before, self.predicted, bool(self.closing))[0]

    @property
    def active_after(self) -> str | None:
        event, task = derive_event(self.active_before, self.predicted, bool(self.closing))
        return active_after(self.active_before, event, task)


def turn_targets(record: ConversationRecord) -> list[TurnTarget]:
    """The training target of every labelled turn, with the gold active task before it.

    Example:
        >>> from task_router.evaluation import parse_records
        >>> rec = parse_records([{"id": "c", "tasks": [{"name": "a", "description": "Do A."}],
        ...     "turns": [{"role": "user", "text": "do a"}, {"role": "assistant", "text": "ok"},
        ...               {"role": "user", "text": "thanks, bye"}],
        ...     "labels": [{"turn_index": 0, "task": "a", "event": "START"},
        ...                {"turn_index": 2, "task": "a", "event": "END"}]}])[0]
        >>> [(t.answer, t.closing) for t in turn_targets(rec)]
        [('a', None), ('a', True)]
    """
    targets: list[TurnTarget] = []
    active: str | None = None
    for label in record.labels:
        if label.task == NONE_LABEL or label.event == "NONE":
            answer, closing = NONE_LABEL, None
        elif label.event == "END":
            # END names the task being closed: the router says "still X, finished"; an END of a task that was
            # not active (inconsistent data) teaches NONE.
            answer, closing = (label.task, True) if label.task == active else (NONE_LABEL, None)
        else:
            answer, closing = label.task, (False if label.task == active else None)
        target = TurnTarget(label.turn_index, active, answer, closing)
        targets.append(target)
        active = target.active_after
    return targets


def labels_from_answers(
    turn_indexes: Sequence[int], answers: Sequence[tuple[str | None, bool]]
) -> list[dict[str, object]]:
    """Benchmark labels (``{turn_index, task, event}``) from per-turn (task after the turn or None, closing).

    Events follow docs/contract.md's table (derive_event), so labels written this way are always consistent: with
    a task active, (None, closing) ends it and (None, not closing) is a digression (NONE, the task stays active,
    labelled ``digression: true``).

    Example:
        >>> labels_from_answers([0, 2], [("a", False), ("a", True)])
        [{'turn_index': 0, 'task': 'a', 'event': 'START'}, {'turn_index': 2, 'task': 'a', 'event': 'END'}]
        >>> labels_from_answers([0, 2], [("a", False), (None, False)])[1]
        {'turn_index': 2, 'task': 'NONE', 'event': 'NONE', 'digression': True}
    """
    if len(turn_indexes) != len(answers):
        raise ValueError(f"{len(turn_indexes)} user turns but {len(answers)} answers: give one answer per user turn")
    labels: list[dict[str, object]] = []
    active: str | None = None
    for index, (task, closing) in zip(turn_indexes, answers, strict=True):
        event, named = derive_event(active, task, closing and (task is None or task == active))
        label: dict[str, object] = {"turn_index": index, "task": named or NONE_LABEL, "event": event}
        if event == "NONE" and active is not None:
            label["digression"] = True
        labels.append(label)
        active = active_after(active, event, named)
    return labels
