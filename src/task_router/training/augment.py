"""Augmentations that make a router read task descriptions instead of memorizing task names.

Each augmented conversation is a new record in the benchmark format, with labels rewritten consistently
(docs/contract.md's event table), so it can be reviewed, evaluated or trained on like any other record.
Everything is deterministic: the random choices for a record depend only on the seed, the record id and the copy.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from task_router.catalog import NONE_LABEL
from task_router.evaluation import ConversationRecord, parse_records
from task_router.training.targets import labels_from_answers, turn_targets

RENAME_STYLES = ("opaque", "snake", "renumber")


@dataclass(frozen=True)
class AugmentConfig:
    """How training conversations are varied (TRL-style config; see :func:`augment_records`).

    - ``copies``: augmented variants written per conversation (``keep_original`` adds the record as it is).
    - ``shuffle``: shuffle the catalogue order.
    - ``drop_gold_prob``: chance to remove one of the conversation's own tasks, whose turns become NONE.
    - ``rename_prob``: chance to rename every task (``RENAME_STYLES``: opaque ids, snake_case, other numbers).
    - ``min_tasks`` / ``max_tasks``: the catalogue is cut to a random size in this range (the conversation's own
      tasks are kept); shorter catalogues also make training sequences shorter.
    - ``short_description_prob``: chance, per task, to keep only the first sentence of its description (users'
      catalogues are often terser than the benchmark's, which adds a service description).

    Example:
        >>> AugmentConfig(copies=2, drop_gold_prob=0.2).copies
        2
    """

    copies: int = 1
    keep_original: bool = False
    shuffle: bool = True
    drop_gold_prob: float = 0.15
    rename_prob: float = 0.3
    min_tasks: int = 5
    max_tasks: int = 30
    short_description_prob: float = 0.0

    def __post_init__(self) -> None:
        if self.copies < 0 or (self.copies == 0 and not self.keep_original):
            raise ValueError("copies must be >= 1 (or 0 with keep_original=True): nothing would be produced")
        for name in ("drop_gold_prob", "rename_prob", "short_description_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, got {value}")
        if not 1 <= self.min_tasks <= self.max_tasks:
            raise ValueError(f"need 1 <= min_tasks <= max_tasks, got {self.min_tasks} and {self.max_tasks}")


def augment_records(
    records: Iterable[ConversationRecord], config: AugmentConfig = AugmentConfig(), *, seed: int = 0
) -> Iterator[ConversationRecord]:
    """The augmented training conversations, ``config.copies`` per record (plus the original if asked).

    Example:
        >>> from task_router.evaluation import parse_records
        >>> recs = parse_records([{"id": "c", "tasks": [{"name": "a", "description": "Do A."},
        ...     {"name": "b", "description": "Do B."}], "turns": [{"role": "user", "text": "do a"}],
        ...     "labels": [{"turn_index": 0, "task": "a", "event": "START"}]}])
        >>> out = list(augment_records(recs, AugmentConfig(copies=3, min_tasks=1), seed=1))
        >>> [r.id for r in out]
        ['c#aug0', 'c#aug1', 'c#aug2']
    """
    for record in records:
        if config.keep_original:
            yield record
        for copy in range(config.copies):
            yield augment_record(record, config, random.Random(f"{seed}:{record.id}:{copy}"), suffix=f"#aug{copy}")


def augment_record(
    record: ConversationRecord, config: AugmentConfig, rng: random.Random, *, suffix: str = "#aug"
) -> ConversationRecord:
    """One augmented variant of ``record`` (see :class:`AugmentConfig`)."""
    targets = turn_targets(record)
    gold = list(dict.fromkeys(t.answer for t in targets if t.answer != NONE_LABEL))
    dropped: set[str] = set()
    if gold and rng.random() < config.drop_gold_prob:
        dropped.add(rng.choice(gold))
    tasks = [dict(task) for task in record.tasks if task["name"] not in dropped]
    tasks = _resize(tasks, {g for g in gold if g not in dropped}, config, rng)
    if config.shuffle:
        rng.shuffle(tasks)
    names = [str(task["name"]) for task in tasks]
    mapping = rename_tasks(names, rng.choice(RENAME_STYLES), rng) if rng.random() < config.rename_prob else {}
    for task in tasks:
        task["name"] = mapping.get(task["name"], task["name"])
        if config.short_description_prob and rng.random() < config.short_description_prob:
            task["description"] = first_sentence(str(task["description"]))
    answers: list[tuple[str | None, bool]] = []
    for target in targets:
        kept = target.predicted is not None and target.predicted not in dropped
        answers.append((mapping.get(target.answer, target.answer) if kept else None, bool(target.closing)))
    labels = labels_from_answers([t.turn_index for t in targets], answers)
    data: dict[str, Any] = {
        "id": f"{record.id}{suffix}",
        "source": record.source,
        "split": record.split,
        "tasks": tasks,
        "turns": [turn.model_dump() for turn in record.turns],
        "labels": labels,
    }
    return parse_records([data])[0]


def _resize(
    tasks: list[dict[str, Any]], keep: set[str], config: AugmentConfig, rng: random.Random
) -> list[dict[str, Any]]:
    size = rng.randint(config.min_tasks, config.max_tasks)
    if len(tasks) <= size:
        return tasks
    others = [i for i, task in enumerate(tasks) if task["name"] not in keep]
    n_others = max(0, size - (len(tasks) - len(others)))
    chosen = set(rng.sample(others, n_others)) | {i for i, task in enumerate(tasks) if task["name"] in keep}
    return [task for i, task in enumerate(tasks) if i in chosen]


def first_sentence(text: str) -> str:
    """The text up to its first sentence end (the whole text when it has a single sentence).

    Example:
        >>> first_sentence("Reserve a table. (Service Restaurants_1: find places to eat.)")
        'Reserve a table.'
    """
    match = re.match(r"(.+?[.!?])(\s|$)", text.strip())
    return match.group(1) if match else text.strip()


def rename_tasks(names: Sequence[str], style: str, rng: random.Random) -> dict[str, str]:
    """New, unique, valid names for ``names`` in one of :data:`RENAME_STYLES`.

    - ``opaque``: ``task_<random letters>``, nothing to memorize: only the description tells what it is;
    - ``snake``: ``Restaurants_1.ReserveRestaurant`` -> ``restaurants_1.reserve_restaurant``;
    - ``renumber``: every digit run replaced by a random number (``Restaurants_7.ReserveRestaurant``).

    Example:
        >>> rename_tasks(["Music_1.PlaySong"], "snake", random.Random(0))
        {'Music_1.PlaySong': 'music_1.play_song'}
    """
    if style not in RENAME_STYLES:
        raise ValueError(f"unknown rename style {style!r}: choose one of {RENAME_STYLES}")
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        if style == "opaque":
            new = "task_" + "".join(rng.choice("abcdefghijkmnpqrstuvwxyz") for _ in range(4))
        elif style == "snake":
            new = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
        else:
            new = re.sub(r"\d+", lambda _: str(rng.randint(1, 20)), name)
        base, k = new, 2
        while new in used or new.upper() == NONE_LABEL:
            new, k = f"{base}_{k}", k + 1
        used.add(new)
        mapping[name] = new
    return mapping


def add_example_requests(
    records: Sequence[ConversationRecord], *, prob: float = 0.5, max_examples: int = 2, seed: int = 0
) -> list[ConversationRecord]:
    """Records whose tasks, in a ``prob`` share of the conversations, get up to ``max_examples`` example requests:
    user turns that start or switch to the same task in *other* conversations of ``records``.

    Catalogues in the wild often list example requests (``Task.examples``), benchmark ones rarely do; this
    teaches a router to read them when they are there. Anyone can do the same with their own logs.

    Example:
        >>> recs = parse_records([{"id": f"c{i}", "tasks": [{"name": "a", "description": "Do A."}],
        ...     "turns": [{"role": "user", "text": f"please do a {i}"}],
        ...     "labels": [{"turn_index": 0, "task": "a", "event": "START"}]} for i in range(2)])
        >>> [r.tasks[0]["examples"] for r in add_example_requests(recs, prob=1.0)]
        [['please do a 1'], ['please do a 0']]
    """
    if not 0.0 <= prob <= 1.0 or max_examples < 1:
        raise ValueError(f"need 0 <= prob <= 1 and max_examples >= 1, got {prob} and {max_examples}")
    pool: dict[str, list[tuple[str, str]]] = {}
    for record in records:
        for label in record.labels:
            if label.event in ("START", "SWITCH") and label.task != NONE_LABEL:
                pool.setdefault(label.task, []).append((record.id, record.turns[label.turn_index].text))
    out = []
    for record in records:
        rng = random.Random(f"{seed}:{record.id}:examples")
        if rng.random() >= prob:
            out.append(record)
            continue
        tasks = []
        for task in record.tasks:
            requests = pool.get(str(task["name"]), [])
            drawn = rng.sample(requests, min(len(requests), max_examples + 3))  # a few spare for own turns
            others = list(dict.fromkeys(text for owner, text in drawn if owner != record.id))[:max_examples]
            if others and not task.get("examples"):
                task = {**task, "examples": others}
            tasks.append(task)
        out.append(record.model_copy(update={"tasks": tasks}))
    return out
