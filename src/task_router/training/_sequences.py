"""The scoring router's training data per conversation: each labelled turn's target (what the router must answer)
and the training sequences in its exact prompt layout, one per conversation (window segment).

The scoring router (``routers/_scoring.py``) scores ``" <task or NONE>\\n"`` after the question and, only for the
active task, appends ``"Finished: yes|no"``. So a label becomes (answer, closing) (:func:`turn_targets`):

| gold label                         | answer        | closing |
|------------------------------------|---------------|---------|
| START / SWITCH to X                | X             | None (not scored) |
| CONTINUE X                         | X             | False   |
| END of the active task X           | X             | True    |
| NONE (nothing fits; an active task stays active) | NONE | None |

At inference the scoring router reads, per user turn, ``prefix(catalogue) + conversation_ids(messages so far) +
suffix_ids(active task)`` and scores ``answer_ids(label)`` (+ ``closing_ids(flag)`` for the active task); see
``_inference/engine.py``. Those per-turn prompts share everything up to the turn, but the question and answer of
one turn are *not* part of the next turn's prompt. So a conversation is packed as a tree:

    [catalogue prefix][msg 1][msg 2]...[msg n] [question+answer of turn 1] [question+answer of turn 2] ...
     \\_______________ trunk: causal _________/  \\__ branch: sees the trunk up to its user turn + itself __/

with a 4D attention mask and position ids that continue from the end of the branch's user turn. Every
branch then computes exactly the logits of the separate per-turn prompt (tested), the catalogue and the
conversation are processed once for all turns, and the loss is only on the answer (and closing) tokens.
The router shows a sliding window of messages (``PromptLayout.visible``); turns whose window starts at a
different message go to another sequence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from task_router._catalog import NONE_LABEL
from task_router._decision import Event, active_after, derive_event
from task_router.evaluation import ConversationRecord

if TYPE_CHECKING:
    from task_router._inference import PromptLayout  # annotations only: importing it loads torch

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Branch:
    """A turn's question + answer: tokens ``[start, end)`` of the sequence, seeing the trunk's first ``sees``."""

    start: int
    end: int
    sees: int


@dataclass
class PackedSequence:
    """Token ids, loss labels, position ids and the tree structure of one training sequence."""

    input_ids: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    position_ids: list[int] = field(default_factory=list)
    trunk: int = 0
    branches: list[Branch] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_decisions(self) -> int:
        return len(self.branches)

    def view(self, branch: Branch) -> list[int]:
        """The token ids one branch attends to, in order: what the router's per-turn prompt is."""
        return self.input_ids[: branch.sees] + self.input_ids[branch.start : branch.end]

    def to_features(self) -> dict[str, Any]:
        return {
            "input_ids": self.input_ids,
            "labels": self.labels,
            "position_ids": self.position_ids,
            "trunk": self.trunk,
            "branches": [(b.start, b.end, b.sees) for b in self.branches],
        }


def record_messages(record: ConversationRecord) -> list[BaseMessage]:
    return [HumanMessage(t.text) if t.role == "user" else AIMessage(t.text) for t in record.turns]


def encode_record(layout: PromptLayout, record: ConversationRecord, *, max_tokens: int = 4096) -> list[PackedSequence]:
    """The packed training sequences of one conversation (usually one; more for long conversations).

    Example:
        >>> layout = PromptLayout(tokenizer, load_prompt("scoring"))  # doctest: +SKIP
        >>> [seq.n_decisions for seq in encode_record(layout, record)]  # doctest: +SKIP
        [9]
    """
    messages = record_messages(record)
    prefix = list(layout.prefix(record.catalog()).ids)
    sequences: list[PackedSequence] = []
    current: PackedSequence | None = None
    window_start = -1
    for target in turn_targets(record):
        seen = messages[: target.turn_index + 1]
        start = len(seen) - len(layout.visible(seen))
        branch_ids, branch_labels = _branch(layout, target)
        trunk_ids = prefix + [i for m in messages[start : target.turn_index + 1] for i in layout.message_ids(m)]
        if len(trunk_ids) + len(branch_ids) > max_tokens:
            raise ValueError(
                f"conversation {record.id!r} turn {target.turn_index} needs {len(trunk_ids) + len(branch_ids)} "
                f"tokens (> max_tokens={max_tokens}): raise max_tokens or shorten the catalogue (max_tasks)"
            )
        fits = current is not None and len(current) + len(trunk_ids) - current.trunk + len(branch_ids) <= max_tokens
        if current is None or start != window_start or not fits:
            current = PackedSequence(source=record.id)
            sequences.append(current)
            window_start = start
        _extend(current, trunk_ids, branch_ids, branch_labels)
    return sequences


def _branch(layout: PromptLayout, target: TurnTarget) -> tuple[list[int], list[int]]:
    question = list(layout.suffix_ids(target.active_before))
    answer = list(layout.answer_ids(target.answer))
    if target.closing is not None:
        answer += layout.closing_ids(target.closing)
    return question + answer, [IGNORE_INDEX] * len(question) + answer


def _extend(seq: PackedSequence, trunk_ids: list[int], branch_ids: list[int], branch_labels: list[int]) -> None:
    """Grow the trunk to ``trunk_ids`` (branches move right) and append a branch that sees all of it."""
    grow = trunk_ids[seq.trunk :]
    if grow:
        n = len(grow)
        tail_ids, tail_labels, tail_pos = (
            seq.input_ids[seq.trunk :],
            seq.labels[seq.trunk :],
            seq.position_ids[seq.trunk :],
        )
        seq.input_ids[seq.trunk :] = grow + tail_ids
        seq.labels[seq.trunk :] = [IGNORE_INDEX] * n + tail_labels
        seq.position_ids[seq.trunk :] = list(range(seq.trunk, seq.trunk + n)) + tail_pos
        seq.branches = [Branch(b.start + n, b.end + n, b.sees) for b in seq.branches]
        seq.trunk += n
    start = len(seq.input_ids)
    seq.input_ids += branch_ids
    seq.labels += branch_labels
    seq.position_ids += list(range(seq.trunk, seq.trunk + len(branch_ids)))
    seq.branches.append(Branch(start, start + len(branch_ids), seq.trunk))


def encode_records(
    layout: PromptLayout, records: Iterable[ConversationRecord], *, max_tokens: int = 4096
) -> list[PackedSequence]:
    return [seq for record in records for seq in encode_record(layout, record, max_tokens=max_tokens)]


def attention_mask(length: int, trunk: int, branches: Sequence[tuple[int, int, int]], size: int) -> Any:
    """Boolean (size, size) mask, True = may attend: a causal trunk, and branches that see their part of the trunk
    and themselves. Rows past ``length`` (padding) see only themselves, so that no row is empty."""
    import torch

    allowed = torch.zeros(size, size, dtype=torch.bool)
    allowed[:trunk, :trunk] = torch.ones(trunk, trunk, dtype=torch.bool).tril()
    for start, end, sees in branches:
        n = end - start
        allowed[start:end, :sees] = True
        allowed[start:end, start:end] = torch.ones(n, n, dtype=torch.bool).tril()
    pad = torch.arange(length, size)
    allowed[pad, pad] = True
    return allowed


@dataclass
class TreeCollator:
    """Pads packed sequences into a batch with a 4D attention mask (batch, 1, q, k) and position ids."""

    pad_token_id: int = 0

    def __call__(self, features: Sequence[dict[str, Any]]) -> dict[str, Any]:
        import torch

        size = max(len(f["input_ids"]) for f in features)
        batch: dict[str, list[Any]] = {"input_ids": [], "labels": [], "position_ids": [], "attention_mask": []}
        for f in features:
            n, pad = len(f["input_ids"]), size - len(f["input_ids"])
            batch["input_ids"].append(torch.tensor(list(f["input_ids"]) + [self.pad_token_id] * pad))
            batch["labels"].append(torch.tensor(list(f["labels"]) + [IGNORE_INDEX] * pad))
            batch["position_ids"].append(torch.tensor(list(f["position_ids"]) + [0] * pad))
            batch["attention_mask"].append(attention_mask(n, f["trunk"], f["branches"], size)[None])
        return {key: torch.stack(values) for key, values in batch.items()}


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
