"""Typed records of the routing benchmark format (``.jsonl`` / ``.jsonl.gz``, one conversation per line)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from task_router._catalog import NONE_LABEL, CatalogError, TaskCatalog
from task_router._decision import TASK_EVENTS, Event
from task_router._io_limits import MAX_FILE_BYTES, as_path, parse_document
from task_router._router_input import MARK_KEY, OFF_TOPIC

_FORMAT_HINT = (
    "each line must be one JSON object {id, source, split, tasks: [{name, description}], "
    "turns: [{role, text}], labels: [{turn_index, task, event}]} (see the benchmarks README)"
)


class DatasetError(ValueError):
    """A benchmark file or record that cannot be used; the message says where and how to fix it."""


class Turn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["user", "assistant"]
    text: str


class Label(BaseModel):
    """The gold decision for one user turn; ``task`` is a catalogue name or ``"NONE"``."""

    model_config = ConfigDict(extra="ignore")

    turn_index: int
    task: str
    event: Event
    acts: list[str] = []
    digression: bool = False  # NONE while a task is active: an off-topic request, the task stays active


class ConversationRecord(BaseModel):
    """One benchmark conversation: its task catalogue, its turns and one label per user turn."""

    model_config = ConfigDict(extra="ignore")

    id: str
    source: str = ""
    split: str = ""
    services: list[str] = []  # SGD: the services the conversation uses
    unseen_services: list[str] = []  # SGD dev/test: those of its services absent from the training split
    tasks: list[dict[str, Any]]
    turns: list[Turn]
    labels: list[Label]

    @model_validator(mode="after")
    def _check_labels(self) -> ConversationRecord:
        try:
            names = set(TaskCatalog.from_records(self.tasks).names)  # a bad catalogue fails here, not mid-run
        except CatalogError as exc:
            raise ValueError(str(exc)) from None
        previous = -1
        for label, active in zip(self.labels, self.gold_active_tasks(), strict=True):
            if not 0 <= label.turn_index < len(self.turns) or self.turns[label.turn_index].role != "user":
                raise ValueError(f"label turn_index {label.turn_index} does not point at a user turn")
            if label.turn_index <= previous:
                raise ValueError("labels must be in increasing turn_index order, one per user turn")
            if label.task != NONE_LABEL and label.task not in names:
                raise ValueError(f"label task {label.task!r} is not in the record's tasks (or 'NONE')")
            _check_event(label, active)
            previous = label.turn_index
        return self

    def catalog(self) -> TaskCatalog:
        return TaskCatalog.from_records(self.tasks)

    def messages_until(self, turn_index: int, *, off_topic: Collection[int] | None = None) -> list[dict[str, Any]]:
        """The conversation the router sees at a user turn: every turn up to and including it. The assistant's reply
        to an off-topic user turn is marked as the graph marks it (:func:`~task_router._router_input.off_topic_reply`):
        ``off_topic`` holds those user turns' indexes (default: the gold digressions, which go with the gold active
        task; a replay with its own state passes the turns its router answered NONE with a task active)."""
        if off_topic is None:
            off_topic = {
                label.turn_index for label, gold in zip(self.labels, self.gold_digressions(), strict=True) if gold
            }
        messages: list[dict[str, Any]] = []
        for index, turn in enumerate(self.turns[: turn_index + 1]):
            message: dict[str, Any] = {"role": turn.role, "content": turn.text}
            if turn.role == "assistant" and index - 1 in off_topic:
                message["response_metadata"] = {MARK_KEY: OFF_TOPIC}
            messages.append(message)
        return messages

    def service_split(self, task: str) -> str | None:
        """``"seen"`` or ``"unseen"``: whether ``task``'s service was in the training split (SGD records carry
        ``services`` / ``unseen_services``; a task is ``<Service>.<Intent>``); None for records without them.
        A label without a task (NONE) takes the conversation's: unseen if any of its services is."""
        if not self.services:
            return None
        service = task.split(".", 1)[0]
        if service not in self.services:
            return "unseen" if self.unseen_services else "seen"
        return "unseen" if service in self.unseen_services else "seen"

    def gold_active_tasks(self) -> list[str | None]:
        """The gold active task before each labelled turn: the previous label's task unless it ended; a NONE
        leaves the active task as it was (a digression)."""
        active: list[str | None] = []
        current: str | None = None
        for label in self.labels:
            active.append(current)
            if label.event == "END":
                current = None
            elif label.event != "NONE" and label.task != NONE_LABEL:
                current = label.task
        return active

    def gold_digressions(self) -> list[bool]:
        """Whether each labelled turn is a digression: flagged ``digression: true``, or gold NONE while a task is
        active (:meth:`gold_active_tasks`), which is what a digression is (docs/contract.md) with or without the flag.
        """
        return [
            label.digression or (label.event == "NONE" and active is not None)
            for label, active in zip(self.labels, self.gold_active_tasks(), strict=True)
        ]

    def gold_after_digressions(self) -> list[bool]:
        """Whether each labelled turn is the first on-topic turn after a digression (after two in a row, the turn
        after the second): the turn that should resume the interrupted task."""
        digressions = self.gold_digressions()
        return [previous and not this for previous, this in zip([False, *digressions], digressions, strict=False)]


def _check_event(label: Label, active: str | None) -> None:
    """A label whose event and task contradict each other (docs/contract.md), which no router could ever give."""
    where = f"label at turn_index {label.turn_index}"
    if label.event in TASK_EVENTS and label.task == NONE_LABEL:
        raise ValueError(f"{where}: {label.event} names the task it works on, not 'NONE' (nothing fits: event NONE)")
    if label.event == "NONE" and label.task != NONE_LABEL:
        raise ValueError(
            f"{where}: event NONE with task {label.task!r}: NONE means nothing fits, give task 'NONE' (or the event "
            f"that works on {label.task!r})"
        )
    if label.digression and (label.event != "NONE" or active is None):
        raise ValueError(
            f"{where}: digression: true marks an off-topic turn (task 'NONE', event NONE) while a task is active; "
            + (f"this one is {label.event}" if label.event != "NONE" else "no task is active before it")
            + ": drop the flag"
        )


def parse_records(records: Iterable[Mapping[str, Any] | ConversationRecord]) -> list[ConversationRecord]:
    """Validate benchmark records built in Python (dicts in the file format, or ConversationRecord).

    Example:
        >>> records = parse_records([{"id": "c1", "tasks": [{"name": "recap", "description": "Recap a meeting."}],
        ...     "turns": [{"role": "user", "text": "Recap my call"}],
        ...     "labels": [{"turn_index": 0, "task": "recap", "event": "START"}]}])
        >>> records[0].gold_active_tasks()
        [None]
    """
    parsed: list[ConversationRecord] = []
    seen: dict[str, str] = {}
    for i, record in enumerate(records):
        where = f"record #{i}"
        parsed.append(record if isinstance(record, ConversationRecord) else _validate(record, where))
        _check_unique_id(parsed[-1], where, seen)
    return parsed


def load_dataset(path: str | Path, *, limit: int | None = None) -> list[ConversationRecord]:
    """Read a benchmark file (``.jsonl`` or ``.jsonl.gz``); ``limit`` keeps the first N conversations.

    Example:
        >>> records = load_dataset("../shared/benchmarks/sgd_dev.jsonl.gz", limit=20)  # doctest: +SKIP
    """
    if limit is not None and limit < 1:
        raise DatasetError(f"limit must be a positive number of conversations, got {limit}")
    records = []
    seen: dict[str, str] = {}
    for where, data in _read_lines(Path(path)):
        records.append(_validate(data, where))
        _check_unique_id(records[-1], where, seen)
        if limit is not None and len(records) >= limit:
            break
    if not records:
        raise DatasetError(f"{path} holds no conversations: {_FORMAT_HINT}")
    return records


def _read_lines(path: Path) -> Iterator[tuple[str, Any]]:
    """(``file:line``, parsed record) for each non-blank line, each bounded like any user document
    (:mod:`task_router._io_limits`: record size, nesting depth, number digits)."""
    path = as_path(path, what="dataset", hint=_FORMAT_HINT, error=DatasetError)
    if not path.is_file():
        raise DatasetError(f"dataset {path} does not exist: give the path of a .jsonl or .jsonl.gz benchmark file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            number = 0
            while line := handle.readline(MAX_FILE_BYTES + 1):
                number += 1
                where = f"{path}:{number}"
                if len(line) > MAX_FILE_BYTES:
                    raise DatasetError(f"{where}: a record longer than {MAX_FILE_BYTES // 2**20} MiB; {_FORMAT_HINT}")
                if not line.strip():
                    continue
                if "\x00" in line:
                    raise DatasetError(f"{where}: binary data, not text; {_FORMAT_HINT}")
                yield where, parse_document(line, fmt="json", source=where, hint=_FORMAT_HINT, error=DatasetError)
    except (OSError, UnicodeDecodeError, EOFError, zlib.error) as exc:
        raise DatasetError(f"cannot read {path} ({exc}): is it a UTF-8 .jsonl file, or gzip for .jsonl.gz?") from None


def _check_unique_id(record: ConversationRecord, where: str, seen: dict[str, str]) -> None:
    """Refuse a second conversation with an id already seen (``seen``: id -> where it was): the id names the
    conversation's replay thread, its LangSmith examples and its rows of predictions.jsonl."""
    if record.id in seen:
        raise DatasetError(
            f"{where}: id {record.id!r} is already the id of {seen[record.id]}: give every conversation its own id "
            "(it names the conversation's thread, its LangSmith examples and its predictions)"
        )
    seen[record.id] = where


def _validate(data: Any, where: str) -> ConversationRecord:
    if not isinstance(data, Mapping):
        raise DatasetError(f"{where}: expected a JSON object, got {type(data).__name__}; {_FORMAT_HINT}")
    try:
        return ConversationRecord.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors())
        raise DatasetError(f"{where} (id {data.get('id', '?')!r}): {details}; {_FORMAT_HINT}") from None
