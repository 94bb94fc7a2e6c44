"""Training records: benchmark files (and generated ones, same format), augmented and encoded."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from task_router._inference import PromptLayout
from task_router.evaluation import ConversationRecord, load_dataset
from task_router.training._augment import (
    AugmentConfig,
    OffTopicConfig,
    add_example_requests,
    augment_records,
    close_without_wrap_up,
    insert_off_topic,
    single_turn_records,
)
from task_router.training._sequences import PackedSequence, encode_records


def load_training_records(
    paths: Sequence[str],
    *,
    limit: int | None = None,
    augment: AugmentConfig | None = None,
    seed: int = 0,
    examples_prob: float = 0.0,
    off_topic: OffTopicConfig | None = None,
    single_turn: int = 0,
    records: Sequence[ConversationRecord] | None = None,
    close_early_prob: float = 0.0,
) -> list[ConversationRecord]:
    """The conversations of every file (``limit`` per file; or ``records`` given as they are), augmented when
    ``augment`` is given; in an ``examples_prob`` share of them, tasks get example requests from other
    conversations (:func:`~task_router.training._augment.add_example_requests`); with ``off_topic``, off-catalogue
    requests are inserted (:func:`~task_router.training._augment.insert_off_topic`) and ``single_turn`` one-turn
    records over large catalogues added (:func:`~task_router.training._augment.single_turn_records`); in a
    ``close_early_prob`` share, a task is closed straight after the assistant's answer
    (:func:`~task_router.training._augment.close_without_wrap_up`).

    Example:
        >>> records = load_training_records(["../shared/benchmarks/sgd_train.jsonl.gz"], limit=100,
        ...                                 augment=AugmentConfig(copies=1))  # doctest: +SKIP
    """
    if records is None:
        records = [record for path in paths for record in load_dataset(path, limit=limit)]
    records = list(records)
    if close_early_prob:
        records = close_without_wrap_up(records, prob=close_early_prob, seed=seed)
    if examples_prob:
        records = add_example_requests(records, prob=examples_prob, seed=seed)
    singles = single_turn_records(records, single_turn, seed=seed) if single_turn else []
    if off_topic is not None:
        records = insert_off_topic(records, off_topic, seed=seed)
    if augment is not None:
        records = list(augment_records(records, augment, seed=seed))
    return records + singles  # one-turn records are varied by blocks of their own (see single_turn_records)


@dataclass(frozen=True)
class DataStats:
    conversations: int
    sequences: int
    decisions: int
    tokens: int
    answer_tokens: int

    def as_dict(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.__dict__.items()}


class PackedDataset:
    """A map-style dataset (what the transformers Trainer iterates) of packed training sequences."""

    def __init__(self, sequences: Sequence[PackedSequence]) -> None:
        if not sequences:
            raise ValueError("no training sequences: the data holds no labelled user turns")
        self.sequences = list(sequences)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.sequences[index].to_features()


def build_dataset(
    layout: PromptLayout, records: Sequence[ConversationRecord], *, max_tokens: int = 4096
) -> tuple[PackedDataset, DataStats]:
    sequences = encode_records(layout, records, max_tokens=max_tokens)
    stats = DataStats(
        conversations=len(records),
        sequences=len(sequences),
        decisions=sum(s.n_decisions for s in sequences),
        tokens=sum(len(s) for s in sequences),
        answer_tokens=sum(1 for s in sequences for label in s.labels if label >= 0),
    )
    return PackedDataset(sequences), stats
