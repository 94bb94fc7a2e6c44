"""Augmentations that make a router read task descriptions instead of memorizing task names.

Each augmented conversation is a new record in the benchmark format, with labels rewritten consistently
(docs/contract.md's event table), so it can be reviewed, evaluated or trained on like any other record.
Everything is deterministic: the random choices for a record depend only on the seed, the record id and the copy.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from task_router._catalog import NONE_LABEL
from task_router.evaluation import ConversationRecord, parse_records
from task_router.training._sequences import labels_from_answers, turn_targets

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


# -- off-topic requests: NONE with nothing active, and digressions while a task is active ----------------------
OFF_TOPIC_FILE = Path(__file__).resolve().parents[1] / "_learned" / "training" / "data" / "off_topic_requests.txt"
#: Assistant replies after an off-topic request: the graph's own None reply is added per catalogue.
OFF_TOPIC_REPLIES = (
    "Sorry, I can't help with that here.",
    "I'm afraid that's not something I can do.",
    "Sorry, that's outside what I can help with. Shall we go on?",
    "I can't help with that, sorry. Anything else for your request?",
)
_SAME_DOMAIN = {"Media": "Movies"}  # SGD domains whose intents overlap (FindMovies in both)


@dataclass(frozen=True)
class OffTopicConfig:
    """Off-catalogue user turns inserted into training conversations (see :func:`insert_off_topic`).

    - ``mid_prob``: chance to insert one right after the assistant's reply to a turn that leaves a task active (a
      digression: NONE, the task stays active; the conversation's later labels are unchanged);
    - ``start_prob``: chance to insert one before the conversation's first turn (NONE with nothing active);
    - ``written_share``: share of inserted requests taken from the hand-written off-topic list
      (:data:`OFF_TOPIC_FILE`); the others are real requests of another training conversation, from a domain whose
      every task is then removed from this conversation's catalogue, so that nothing in it fits;
    - ``distractor_prob``: chance that a hand-written request comes with one to three tasks of *other* topics of the
      file added to the catalogue (the request still fits none of them).

    Example:
        >>> OffTopicConfig(mid_prob=0.5).start_prob
        0.15
    """

    mid_prob: float = 0.5
    start_prob: float = 0.15
    written_share: float = 0.5
    distractor_prob: float = 0.3

    def __post_init__(self) -> None:
        for name in ("mid_prob", "start_prob", "written_share", "distractor_prob"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability between 0 and 1, got {value}")


def domain_of(task_name: str) -> str:
    """The domain of an SGD-style task name (``Restaurants_1.ReserveRestaurant`` -> ``Restaurants``); any other
    name is its own domain.

    Example:
        >>> domain_of("Media_2.FindMovies"), domain_of("meeting_recap")
        ('Movies', 'meeting_recap')
    """
    service = task_name.split(".", 1)[0]
    domain = re.sub(r"_\d+$", "", service) if "." in task_name else task_name
    return _SAME_DOMAIN.get(domain, domain)


def written_off_topic_requests(path: Path = OFF_TOPIC_FILE) -> list[str]:
    """The hand-written off-topic requests (one per line; ``#`` lines are comments and topic headers)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def written_topics(path: Path = OFF_TOPIC_FILE) -> dict[str, tuple[str, list[str]]]:
    """Topic task name -> (its description, the hand-written requests it is in scope for), from the file's
    ``## <name>: <description>`` headers (``## -`` groups have no task and are left out).

    Example:
        >>> name, (description, requests) = next(iter(written_topics().items()))
        >>> name, len(requests) > 5
        ('general_knowledge', True)
    """
    return {name: (description, list(requests)) for name, (description, requests) in _read_topics(path).items()}


@cache
def _read_topics(path: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    topics: dict[str, tuple[str, list[str]]] = {}
    current: list[str] | None = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            name, _, description = line[3:].partition(":")
            current = None if name.strip() == "-" else topics.setdefault(name.strip(), (description.strip(), []))[1]
        elif line.strip() and not line.startswith("#") and current is not None:
            current.append(line.strip())
    return {name: (description, tuple(requests)) for name, (description, requests) in topics.items()}


def _topic_tasks(rng: random.Random, count: int, avoid: str | None = None) -> list[dict[str, Any]]:
    """``count`` topic tasks of the hand-written file (never ``avoid``), as catalogue entries."""
    topics = {name: description for name, (description, _) in _read_topics(OFF_TOPIC_FILE).items() if name != avoid}
    chosen = rng.sample(sorted(topics), min(count, len(topics)))
    return [{"name": name, "description": topics[name]} for name in chosen]


def _topic_of(request: str) -> str | None:
    return next((name for name, (_, requests) in _read_topics(OFF_TOPIC_FILE).items() if request in requests), None)


def opening_requests(records: Iterable[ConversationRecord]) -> dict[str, list[str]]:
    """Domain -> the user turns that start a task of that domain in ``records`` (their first START turns)."""
    pool: dict[str, list[str]] = {}
    for record in records:
        for label in record.labels:
            if label.event == "START" and label.task != NONE_LABEL:
                pool.setdefault(domain_of(label.task), []).append(record.turns[label.turn_index].text)
                break
    return pool


def insert_off_topic(
    records: Sequence[ConversationRecord],
    config: OffTopicConfig = OffTopicConfig(),
    *,
    written: Sequence[str] | None = None,
    seed: int = 0,
) -> list[ConversationRecord]:
    """``records`` with off-catalogue user turns inserted, labelled in the contract's terms: ``NONE`` (with
    ``digression: true`` while a task is active, which stays active), each followed by an assistant reply that
    declines. Requests come from the hand-written list (``written``, default :func:`written_off_topic_requests`) or
    from another conversation's domain, whose tasks are then removed from the catalogue.

    Example:
        >>> recs = parse_records([{"id": "c", "tasks": [{"name": "a", "description": "Do A."}],
        ...     "turns": [{"role": "user", "text": "do a"}, {"role": "assistant", "text": "which one?"},
        ...               {"role": "user", "text": "the red one"}],
        ...     "labels": [{"turn_index": 0, "task": "a", "event": "START"},
        ...                {"turn_index": 2, "task": "a", "event": "CONTINUE"}]}])
        >>> out = insert_off_topic(recs, OffTopicConfig(mid_prob=1.0, start_prob=0.0), written=["tell me a joke"])
        >>> [(label.event, label.digression, out[0].turns[label.turn_index].text) for label in out[0].labels]
        [('START', False, 'do a'), ('NONE', True, 'tell me a joke'), ('CONTINUE', False, 'the red one')]
    """
    written = list(written_off_topic_requests() if written is None else written)
    pool = opening_requests(records)
    out = []
    for record in records:
        rng = random.Random(f"{seed}:{record.id}:off-topic")
        data = record.model_dump()
        if rng.random() < config.mid_prob:
            _insert(data, _digression_point(record, rng), written, pool, config, rng)
        if rng.random() < config.start_prob:
            _insert(data, 0, written, pool, config, rng)
        out.append(parse_records([data])[0] if data != record.model_dump() else record)
    return out


def close_without_wrap_up(
    records: Sequence[ConversationRecord], *, prob: float = 0.5, seed: int = 0
) -> list[ConversationRecord]:
    """``records`` where, in a ``prob`` share of the conversations, the user closes a task straight after the
    assistant's answer: the exchange SGD nearly always has before an END (the user's "Thanks." continuing the task,
    the assistant's "Anything else?") is removed. Without such turns a model learns that END follows "Anything
    else?" and keeps the task when a user says goodbye right after a booking is confirmed (the shipped model, on
    held-out ``sgd_train`` END turns: recall 0.860 with that exchange, 0.733 without it;
    ``benchmarks/end_without_wrap_up.py``). Training with it (``close_early_prob``) measured worse on sgd_dev.

    Example:
        >>> recs = parse_records([{"id": "c", "tasks": [{"name": "a", "description": "Do A."}],
        ...     "turns": [{"role": "user", "text": "book a"}, {"role": "assistant", "text": "Booked."},
        ...               {"role": "user", "text": "thanks"}, {"role": "assistant", "text": "Anything else?"},
        ...               {"role": "user", "text": "no, bye"}],
        ...     "labels": [{"turn_index": 0, "task": "a", "event": "START"},
        ...                {"turn_index": 2, "task": "a", "event": "CONTINUE"},
        ...                {"turn_index": 4, "task": "a", "event": "END"}]}])
        >>> out = close_without_wrap_up(recs, prob=1.0)[0]
        >>> [turn.text for turn in out.turns], [(label.turn_index, label.event) for label in out.labels]
        (['book a', 'Booked.', 'no, bye'], [(0, 'START'), (2, 'END')])
    """
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"prob is a share of conversations, in [0, 1], got {prob}")
    out = []
    for record in records:
        rng = random.Random(f"{seed}:{record.id}:close")
        draw = rng.random()
        labels = record.labels
        ends = [i for i, label in enumerate(labels) if label.event == "END" and i > 0 and _wrapped_up(record, i)]
        if not ends or draw >= prob:
            out.append(record)
            continue
        i = rng.choice(ends)
        data = record.model_dump()
        position = labels[i - 1].turn_index  # the user's "Thanks." and the assistant's "Anything else?"
        del data["turns"][position : position + 2]
        del data["labels"][i - 1]
        for label in data["labels"]:
            if label["turn_index"] > position:
                label["turn_index"] -= 2
        out.append(parse_records([data])[0])
    return out


def _wrapped_up(record: ConversationRecord, index: int) -> bool:
    """Whether the END label ``index`` follows a wrap-up: the user's turn before it continued the same task, right
    after an assistant's answer, and the assistant replied to it."""
    end, before = record.labels[index], record.labels[index - 1]
    position = before.turn_index
    return (
        before.event == "CONTINUE"
        and before.task == end.task
        and end.turn_index == position + 2
        and position >= 1
        and record.turns[position - 1].role == "assistant"
        and record.turns[position + 1].role == "assistant"
    )


def _digression_point(record: ConversationRecord, rng: random.Random) -> int | None:
    """Where a digression can go (one of the places, at random): right after the assistant's reply to a turn that
    leaves a task active and is followed by another user turn."""
    targets = turn_targets(record)
    points = [
        target.turn_index + 2
        for target, following in itertools.pairwise(targets)
        if target.active_after is not None
        and following.turn_index == target.turn_index + 2
        and record.turns[target.turn_index + 1].role == "assistant"
    ]
    return rng.choice(points) if points else None


def _insert(
    data: dict[str, Any],
    position: int | None,
    written: Sequence[str],
    pool: dict[str, list[str]],
    config: OffTopicConfig,
    rng: random.Random,
) -> None:
    if position is None:
        return
    used = {domain_of(str(task["name"])) for task in data["tasks"] if _named(data, str(task["name"]))}
    droppable = [
        domain
        for domain in pool
        if domain not in used and any(domain_of(str(task["name"])) == domain for task in data["tasks"])
    ]
    if written and (not droppable or rng.random() < config.written_share):
        request = rng.choice(written)
        offered = {str(task["name"]) for task in data["tasks"]}
        while _topic_of(request) in offered:  # its topic's task came with an earlier insertion: not off topic here
            request = rng.choice(written)
        if rng.random() < config.distractor_prob:  # tasks of other topics: the request is still off the catalogue
            present = {str(task["name"]) for task in data["tasks"]}
            extra = _topic_tasks(rng, rng.randint(1, 3), avoid=_topic_of(request))
            data["tasks"] = [*data["tasks"], *(task for task in extra if task["name"] not in present)]
    elif droppable:
        domain = rng.choice(sorted(droppable))
        request = rng.choice(pool[domain])
        kept = [task for task in data["tasks"] if domain_of(str(task["name"])) != domain]
        if not kept:
            return
        data["tasks"] = kept
    else:
        return
    catalogue = "\n".join(f"- {task['name']}: {task['description']}" for task in data["tasks"][:3])
    replies = [*OFF_TOPIC_REPLIES, f"I can't help with that here. This is what I can do:\n{catalogue}"]
    data["turns"][position:position] = [
        {"role": "user", "text": request},
        {"role": "assistant", "text": rng.choice(replies)},
    ]
    for label in data["labels"]:
        if label["turn_index"] >= position:
            label["turn_index"] += 2
    active = _active_before(data["labels"], position)
    label = {"turn_index": position, "task": NONE_LABEL, "event": "NONE", "digression": active is not None}
    data["labels"].append(label)
    data["labels"].sort(key=lambda item: item["turn_index"])


def _named(data: dict[str, Any], name: str) -> bool:
    return any(label["task"] == name for label in data["labels"])


def _active_before(labels: Sequence[dict[str, Any]], position: int) -> str | None:
    active: str | None = None
    for label in sorted(labels, key=lambda item: item["turn_index"]):
        if label["turn_index"] >= position:
            break
        if label["event"] == "END":
            active = None
        elif label["event"] != "NONE" and label["task"] != NONE_LABEL:
            active = label["task"]
    return active


def single_turn_records(
    records: Sequence[ConversationRecord],
    count: int,
    *,
    none_share: float = 0.3,
    written: Sequence[str] | None = None,
    min_tasks: int = 20,
    block: int = 8,
    rename_prob: float = 0.3,
    example_style_prob: float = 0.5,
    topic_prob: float = 0.6,
    topic_share: float = 0.3,
    seed: int = 0,
) -> list[ConversationRecord]:
    """``count`` one-turn records over large catalogues, as in intent-classification sets: every task of
    ``records`` (one description per name), cut to a random size of at least ``min_tasks``, often with one whole
    domain removed. Each record is a conversation's opening request, labelled START of its task, or, in a
    ``none_share`` of them, NONE: a request of the removed domain, or a hand-written off-topic one.

    With ``topic_prob``, a block's catalogue also gets one to four topic tasks of the hand-written file
    (:func:`written_topics`), and a ``topic_share`` of its records are then a hand-written request of one of them,
    labelled START of that task: the same kinds of requests are in scope when the catalogue has a task for them,
    so the model learns to read the catalogue rather than that such topics never fit. A hand-written request
    labelled NONE never has its own topic's task in the catalogue.

    Records come in blocks of ``block`` that share one catalogue (ids ``single-<seed>-<block>-<i>``), so that a
    trainer batching a block together embeds its task texts once; a block's tasks are renamed together with
    ``rename_prob``, and with ``example_style_prob`` described the way intent catalogues often are, by a name, a
    domain and two example requests (:func:`example_style_description`; the examples are other conversations'
    openings, never the record's own request).

    Example:
        >>> recs = parse_records([{"id": f"c{i}", "tasks": [{"name": f"D{i}_1.Do", "description": f"Do {i}."}],
        ...     "turns": [{"role": "user", "text": f"do {i}"}],
        ...     "labels": [{"turn_index": 0, "task": f"D{i}_1.Do", "event": "START"}]} for i in range(3)])
        >>> out = single_turn_records(recs, 20, none_share=0.5, written=["hi"], min_tasks=2)
        >>> sorted({r.labels[0].event for r in out}), all(len(r.turns) == 1 for r in out)
        (['NONE', 'START'], True)
    """
    own_file = written is None
    written = list(written_off_topic_requests() if written is None else written)
    tasks: dict[str, dict[str, Any]] = {}
    openings: dict[str, list[str]] = {}
    for record in records:
        for task in record.tasks:
            tasks.setdefault(str(task["name"]), {"name": task["name"], "description": task["description"]})
        start = next((label for label in record.labels if label.event == "START"), None)
        if start is not None and start.task in tasks:
            openings.setdefault(start.task, []).append(record.turns[start.turn_index].text)
    if not openings:
        raise ValueError("no conversation of the data starts a task: nothing to build single-turn records from")
    rng = random.Random(f"{seed}:single-turn")
    domains = sorted({domain_of(name) for name in openings})
    topics = written_topics() if own_file else {}  # topic tasks come with the file's own requests only
    topic_of = {request: name for name, (_, requests) in topics.items() for request in requests}
    out: list[ConversationRecord] = []
    for number in range(-(-count // block)):
        removed = rng.choice(domains) if len(domains) > 1 and rng.random() < 0.7 else None
        pool = [task for task in tasks.values() if domain_of(str(task["name"])) != removed]
        size = rng.randint(min(min_tasks, len(pool)), len(pool))
        catalogue = [dict(task) for task in rng.sample(pool, size)]
        names = [str(task["name"]) for task in catalogue]
        examples: dict[str, list[str]] = {}
        if rng.random() < example_style_prob:
            for task in catalogue:
                drawn = rng.sample(
                    openings.get(str(task["name"]), []), min(2, len(openings.get(str(task["name"]), [])))
                )
                examples[str(task["name"])] = drawn
                task["description"] = example_style_description(task, drawn)
        mapping = rename_tasks(names, rng.choice(RENAME_STYLES), rng) if rng.random() < rename_prob else {}
        for task in catalogue:
            task["name"] = mapping.get(task["name"], task["name"])
        startable = [name for name in names if set(openings.get(name, ())) - set(examples.get(name, ()))]
        in_topics = _topic_tasks(rng, rng.randint(1, 4)) if topics and rng.random() < topic_prob else []
        if in_topics:
            catalogue = [*catalogue, *in_topics]
            rng.shuffle(catalogue)
        present = {task["name"] for task in in_topics}
        for i in range(min(block, count - number * block)):
            none = not startable or rng.random() < none_share
            task_name = ""
            if in_topics and rng.random() < topic_share:
                none, task_name = False, rng.choice(sorted(present))
                text = rng.choice(topics[task_name][1])
            elif none and removed is not None and removed in {domain_of(n) for n in openings} and rng.random() < 0.5:
                text = rng.choice([t for n, ts in openings.items() if domain_of(n) == removed for t in ts])
            elif none:
                fitting = [t for t in written if topic_of.get(t) not in present]
                text = rng.choice(fitting) if fitting else ""
            else:
                task_name = rng.choice(startable)
                unused = [t for t in openings[task_name] if t not in examples.get(task_name, ())]
                text = rng.choice(unused) if unused else ""
                task_name = mapping.get(task_name, task_name)
            if not text:
                continue
            label = {"turn_index": 0, "task": NONE_LABEL, "event": "NONE"}
            if not none:
                label = {"turn_index": 0, "task": task_name, "event": "START"}
            data = {
                "id": f"single-{seed}-{number}-{i}",
                "source": "single-turn",
                "tasks": catalogue,
                "turns": [{"role": "user", "text": text}],
                "labels": [label],
            }
            out.append(parse_records([data])[0])
    return out


def example_style_description(task: dict[str, Any], examples: Sequence[str]) -> str:
    """A task described the way intent catalogues often are: what it does in a sentence, its domain and example
    requests.

    Example:
        >>> task = {"name": "Restaurants_1.ReserveRestaurant", "description": "Reserve a table. (Service ...)"}
        >>> example_style_description(task, ["Book a table for two"])
        'Reserve a table (restaurants domain). Examples: "Book a table for two"'
    """
    what = first_sentence(str(task["description"])).rstrip(".")
    text = f"{what} ({domain_of(str(task['name'])).lower()} domain)."
    if examples:
        text += " Examples: " + "; ".join(f'"{example.strip()}"' for example in examples)
    return text
