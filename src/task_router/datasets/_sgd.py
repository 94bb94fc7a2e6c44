"""Schema-Guided Dialogue (SGD) release folders -> routing benchmark records (what `task-router eval` reads), and
what every converter shares.

Shared (with :mod:`task_router.datasets._clinc` and :mod:`task_router.datasets._build`): the converters' error
(:class:`SourceError`), a bounded JSON reader (:func:`read_json`), per-record seeded randomness (:func:`seeded`),
the gzip writer (:func:`write_jsonl_gz`). They live here, not in ``_build``, which imports the converters.

Input: a clone of google-research-datasets/dstc8-schema-guided-dialogue, whose ``train/``, ``dev/`` and ``test/``
folders each hold ``schema.json`` (the split's services and their intents) and ``dialogues_NNN.json`` files.

Labels, one per user turn: the frame that carries the user's intent decides (a frame with an INFORM_INTENT act
first, then a frame whose active intent changed since that service's previous user turn, then the frame of the
active task's service, else the first frame); its ``<Service>.<Intent>`` is the turn's task. Active intent NONE ->
END (of the active task, or task NONE when none is active). Nothing active -> START. A different task -> SWITCH.
The same task on a closing turn (GOODBYE, or THANK_YOU on the last user turn) -> END. Otherwise CONTINUE.

Catalogue per conversation: every intent of one service per domain of the split's schema (the conversation's own
services, a seeded random one for the other domains), in a seeded random order.
"""

from __future__ import annotations

import gzip
import heapq
import json
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from task_router._io_limits import load_document, replacing

SPLITS = ("train", "dev", "test")
NO_INTENT = "NONE"  # SGD's active_intent when no intent is active
# Media and Movies services both offer FindMovies: one domain, so a catalogue holds one of them unless the
# conversation itself uses both.
DOMAIN_ALIASES = {"Media": "Movies"}
SGD_HINT = (
    "give the folder of a clone of google-research-datasets/dstc8-schema-guided-dialogue (the one holding train/, "
    "dev/ and test/, each with schema.json and dialogues_NNN.json files), its files unchanged"
)

Schema = dict[str, dict[str, Any]]  # service name -> service, in schema order


def find_sgd_root(path: Path) -> Path:
    """The release folder holding ``train/``: ``path`` itself or its ``dstc8-schema-guided-dialogue`` subfolder.

    Raises:
        SourceError: Neither holds ``train/schema.json``.
    """
    for candidate in (path, path / "dstc8-schema-guided-dialogue"):
        if (candidate / "train" / "schema.json").is_file():
            return candidate
    if not path.is_dir():
        raise SourceError(f"SGD folder {path} does not exist or is not a folder; {SGD_HINT}")
    if (path / "schema.json").is_file():
        raise SourceError(f"SGD folder {path} is one split's folder: give its parent {path.parent}; {SGD_HINT}")
    raise SourceError(f"SGD folder {path} has no train/schema.json; {SGD_HINT}")


def available_splits(root: Path) -> list[str]:
    """The splits of :data:`SPLITS` that ``root`` has a folder for, in that order."""
    return [split for split in SPLITS if (root / split).is_dir()]


def load_schema(folder: Path) -> Schema:
    """The services of one split's ``schema.json``, by name.

    Raises:
        SourceError: The file is missing or is not a list of services with intents.
    """
    data = read_json(folder / "schema.json", what="SGD schema", hint=SGD_HINT)
    if not isinstance(data, list) or not all(_is_service(service) for service in data):
        raise SourceError(
            f"SGD schema {folder / 'schema.json'} is not a list of services "
            f"{{service_name, description, intents: [{{name, description}}]}}; {SGD_HINT}"
        )
    return {service["service_name"]: service for service in data}


def convert_split(
    root: Path, split: str, *, limit: int | None, seed: int, train_services: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Benchmark records for a seeded sample of one split's dialogues, in the release's file order.

    Args:
        root: The release folder (see :func:`find_sgd_root`).
        split: "train", "dev" or "test".
        limit: At most this many conversations (a seeded uniform sample); None keeps them all.
        seed: The seed of the sample and of each conversation's catalogue.
        train_services: The training split's services; dev and test records list their others as unseen.

    Raises:
        SourceError: A file is missing or not in the release's format.
    """
    folder = root / split
    schema = load_schema(folder)
    unseen = split != "train"
    kept: list[tuple[float, int, dict[str, Any]]] = []  # a heap of (-key, position, record): the smallest keys
    for position, (where, dialogue) in enumerate(_dialogues(folder)):
        rng = seeded(seed, "sgd", split, str(dialogue.get("dialogue_id")))
        key = rng.random()
        if limit is not None and len(kept) >= limit and -kept[0][0] <= key:
            continue
        record = _record(dialogue, split, schema, rng, where, train_services if unseen else None)
        if record is None:
            continue
        heapq.heappush(kept, (-key, position, record))
        if limit is not None and len(kept) > limit:
            heapq.heappop(kept)
    return [record for _, _, record in sorted(kept, key=lambda item: item[1])]


def derive_labels(turns: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One ``{turn_index, task, event, acts}`` label per USER turn of an SGD dialogue (rules: module docstring)."""
    users = [(index, turn) for index, turn in enumerate(turns) if turn["speaker"] == "USER"]
    labels: list[dict[str, Any]] = []
    active: str | None = None
    last_intent: dict[str, str] = {}  # service -> its active intent at its previous user turn
    for number, (index, turn) in enumerate(users):
        frames = turn["frames"]
        acts = sorted({action["act"] for frame in frames for action in frame.get("actions", [])})
        frame = _intent_frame(frames, active, last_intent)
        intent = _active_intent(frame) if frame is not None else NO_INTENT
        for each in frames:
            last_intent[each["service"]] = _active_intent(each)
        closing = "GOODBYE" in acts or ("THANK_YOU" in acts and number == len(users) - 1)
        task, event, active = _decide(frame, intent, active, closing)
        labels.append({"turn_index": index, "task": task, "event": event, "acts": acts})
    return labels


def _decide(
    frame: Mapping[str, Any] | None, intent: str, active: str | None, closing: bool
) -> tuple[str, str, str | None]:
    """(label task, event, active task after the turn)."""
    if frame is None or intent == NO_INTENT:
        return active or NO_INTENT, "END", None
    task = f"{frame['service']}.{intent}"
    if active is None:
        return task, "START", task
    if task != active:
        return task, "SWITCH", task
    if closing:
        return task, "END", None
    return task, "CONTINUE", task


def _intent_frame(
    frames: Sequence[Mapping[str, Any]], active: str | None, last_intent: Mapping[str, str]
) -> Mapping[str, Any] | None:
    """The frame that carries the user's intent at this turn (order: module docstring)."""
    for frame in frames:
        if any(action["act"] == "INFORM_INTENT" for action in frame.get("actions", [])):
            return frame
    for frame in frames:
        intent = _active_intent(frame)
        if intent != NO_INTENT and intent != last_intent.get(frame["service"]):
            return frame
    active_service = active.split(".", 1)[0] if active else None
    for frame in frames:
        if frame["service"] == active_service:
            return frame
    return frames[0] if frames else None


def _active_intent(frame: Mapping[str, Any]) -> str:
    return (frame.get("state") or {}).get("active_intent") or NO_INTENT


def catalogue(services: Sequence[str], schema: Schema, rng: random.Random) -> list[dict[str, str]]:
    """Every intent of one service per domain: the conversation's own ``services``, a random one for the other
    domains; shuffled. Each task is ``{name: "<Service>.<Intent>", description}``."""
    by_domain: dict[str, list[str]] = {}
    for name in schema:
        by_domain.setdefault(domain_of(name), []).append(name)
    chosen: list[str] = []
    for names in by_domain.values():
        own = [name for name in names if name in services]
        chosen.extend(own or [rng.choice(names)])
    tasks = [_task(schema[name], intent) for name in chosen for intent in schema[name]["intents"]]
    rng.shuffle(tasks)
    return tasks


def domain_of(service: str) -> str:
    """The domain of an SGD service name ("Restaurants_2" -> "Restaurants"; Media counts as Movies)."""
    domain = service.split("_", 1)[0]
    return DOMAIN_ALIASES.get(domain, domain)


def _task(service: Mapping[str, Any], intent: Mapping[str, Any]) -> dict[str, str]:
    name = service["service_name"]
    description = f"{intent['description']} (Service {name}: {service['description']})"
    return {"name": f"{name}.{intent['name']}", "description": description}


def _record(
    dialogue: Mapping[str, Any],
    split: str,
    schema: Schema,
    rng: random.Random,
    where: str,
    train_services: Sequence[str] | None,
) -> dict[str, Any] | None:
    """The benchmark record of one dialogue, or None when it has no user turn."""
    try:
        services = list(dialogue["services"])
        missing = [name for name in services if name not in schema]
        if missing:
            raise SourceError(f"{where}: services {missing} are not in the split's schema.json; {SGD_HINT}")
        labels = derive_labels(dialogue["turns"])
        turns = [
            {"role": "user" if turn["speaker"] == "USER" else "assistant", "text": turn["utterance"]}
            for turn in dialogue["turns"]
        ]
        tasks = catalogue(services, schema, rng)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise SourceError(f"{where}: not an SGD dialogue ({type(exc).__name__}: {exc}); {SGD_HINT}") from None
    if not labels:
        return None
    return {
        "id": f"sgd-{split}-{dialogue['dialogue_id']}",
        "source": "sgd",
        "split": split,
        "services": services,
        "unseen_services": [] if train_services is None else [s for s in services if s not in train_services],
        "tasks": tasks,
        "turns": turns,
        "labels": labels,
    }


def _dialogues(folder: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(``file#dialogue_id``, dialogue) for every dialogue of a split folder, files in name order."""
    files = sorted(folder.glob("dialogues_*.json"))
    if not files:
        raise SourceError(f"SGD folder {folder} has no dialogues_NNN.json files; {SGD_HINT}")
    for path in files:
        data = read_json(path, what="SGD dialogues file", hint=SGD_HINT)
        if not isinstance(data, list) or not all(isinstance(item, Mapping) for item in data):
            raise SourceError(f"SGD dialogues file {path} is not a list of dialogues; {SGD_HINT}")
        for dialogue in data:
            yield f"{path}#{dialogue.get('dialogue_id', '?')}", dialogue


def _is_service(service: Any) -> bool:
    return (
        isinstance(service, Mapping)
        and isinstance(service.get("service_name"), str)
        and isinstance(service.get("intents"), list)
        and all(isinstance(intent, Mapping) and "name" in intent for intent in service["intents"])
    )


# One SGD dialogues file is a few MB and CLINC's data_full.json about 2 MB: far below this, far above a typo.
MAX_SOURCE_BYTES = 256 * 1024 * 1024


class SourceError(ValueError):
    """A public release that cannot be converted; the message names the file and what to give instead."""


def read_json(path: Path, *, what: str, hint: str) -> Any:
    """The parsed JSON document at ``path``, read within the project's input limits.

    Args:
        path: The file to read.
        what: What the file is, for the error message (e.g. "SGD schema").
        hint: What a valid file is, appended to every error message.

    Raises:
        SourceError: The file is missing, too large, not UTF-8 or not valid JSON.
    """
    return load_document(path, what=what, hint=hint, error=SourceError, fmt="json", max_bytes=MAX_SOURCE_BYTES)[1]


def seeded(seed: int, *parts: str) -> random.Random:
    """A random generator that depends only on ``seed`` and ``parts`` (so a record's draws do not depend on which
    other records are converted, nor on the order they are read in)."""
    return random.Random(":".join([str(seed), *parts]))


def write_jsonl_gz(path: Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Write ``records`` as gzipped JSONL, one record a line, byte-identical for identical records.

    Written whole or not at all (:func:`task_router._io_limits.replacing`).

    Returns:
        The number of records written.
    """
    count = 0
    with (  # the gzip stream and the file close before the new file replaces ``path``
        replacing(path) as partial,
        partial.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle,
    ):
        for record in records:
            handle.write((json.dumps(record) + "\n").encode("utf-8"))
            count += 1
    return count


def labelled_turns(records: Iterable[Mapping[str, Any]]) -> int:
    """The number of labels (labelled user turns) in ``records``."""
    return sum(len(record["labels"]) for record in records)
