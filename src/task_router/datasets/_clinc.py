"""CLINC150 (clinc/oos-eval ``data_full.json``, optional ``domains.json``) -> single-turn benchmark records.

The catalogue is all 150 intents, each described by its humanized name, its domain (from ``domains.json``; without
it the description omits the domain) and two training utterances. An in-scope utterance is labelled
``{task: <intent>, event: START}``, an out-of-scope one ``{task: NONE, event: NONE}``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from task_router.datasets._sgd import SourceError, read_json, seeded

# The release's split names (and the out-of-scope list of each); the benchmark files call "val" dev.
SPLITS = {"val": "oos_val", "test": "oos_test"}
OUT_OF_SCOPE = "oos"
CLINC_HINT = (
    "give data_full.json from clinc/oos-eval (its data/ folder), unchanged: "
    '{"train": [[text, intent], ...], "val": ..., "test": ..., "oos_train": ..., "oos_val": ..., "oos_test": ...}'
)
DOMAINS_HINT = 'give domains.json from clinc/oos-eval (its data/ folder): {"<domain>": [intent, ...], ...}'
# Words that are not simply lower-case in a humanized intent name.
_WORDS = {
    "i": "I",
    "ai": "AI",
    "pin": "PIN",
    "apr": "APR",
    "mpg": "MPG",
    "pto": "PTO",
    "todo": "to-do",
    "w2": "W-2",
    "401k": "401(k)",
}
Pairs = list[tuple[str, str]]


def find_data_full(path: Path) -> Path:
    """``path`` if it is a file, else ``data_full.json`` in it or in its ``data/`` folder (a clone of oos-eval).

    Raises:
        SourceError: No such file.
    """
    if path.is_file():
        return path
    for candidate in (path / "data_full.json", path / "data" / "data_full.json"):
        if candidate.is_file():
            return candidate
    raise SourceError(f"CLINC150 file {path} does not exist; {CLINC_HINT}")


def find_domains(data_full: Path) -> Path | None:
    """The ``domains.json`` next to ``data_full.json`` (as in the oos-eval repository), or None."""
    candidate = data_full.parent / "domains.json"
    return candidate if candidate.is_file() else None


def load_clinc(path: Path) -> dict[str, Pairs]:
    """The release's lists by name ("train", "val", "oos_val", ...), each a list of (text, intent).

    Raises:
        SourceError: The file is missing or not in the release's format.
    """
    data = read_json(path, what="CLINC150 file", hint=CLINC_HINT)
    needed = ["train", *SPLITS, *SPLITS.values()]
    if not isinstance(data, Mapping) or any(name not in data for name in needed):
        raise SourceError(f"CLINC150 file {path} lacks one of the lists {needed}; {CLINC_HINT}")
    lists: dict[str, Pairs] = {}
    for name, pairs in data.items():
        if not isinstance(pairs, list) or not all(_is_pair(pair) for pair in pairs):
            raise SourceError(f"CLINC150 file {path}: {name!r} is not a list of [text, intent] pairs; {CLINC_HINT}")
        lists[name] = [(text, intent) for text, intent in pairs]
    return lists


def load_domains(path: Path) -> dict[str, list[str]]:
    """``domains.json``: domain -> its intents, in file order.

    Raises:
        SourceError: The file is missing or not a mapping of domains to lists of intents.
    """
    data = read_json(path, what="CLINC150 domains file", hint=DOMAINS_HINT)
    if not isinstance(data, Mapping) or not all(
        isinstance(intents, list) and all(isinstance(intent, str) for intent in intents) for intents in data.values()
    ):
        raise SourceError(f"CLINC150 domains file {path} is not a mapping of domains to intents; {DOMAINS_HINT}")
    return {str(domain): list(intents) for domain, intents in data.items()}


def catalogue(train: Pairs, domains: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, str]]:
    """Every in-scope intent of ``train`` as ``{name, description}``: in ``domains`` order (then any intent it
    lacks, in training order), described by humanized name, domain and the first two training utterances."""
    examples: dict[str, list[str]] = {}
    for text, intent in train:
        if intent != OUT_OF_SCOPE:
            examples.setdefault(intent, []).append(text)
    domain_of = {intent: domain for domain, intents in (domains or {}).items() for intent in intents}
    ordered = [intent for intents in (domains or {}).values() for intent in intents if intent in examples]
    ordered += [intent for intent in examples if intent not in domain_of]
    return [_task(intent, domain_of.get(intent), examples[intent][:2]) for intent in ordered]


def humanize(name: str) -> str:
    """An intent name as words: "pin_change" -> "PIN change", "todo_list" -> "To-do list"."""
    text = " ".join(_WORDS.get(word, word) for word in name.split("_"))
    return text[:1].upper() + text[1:]


def convert_split(
    lists: Mapping[str, Pairs],
    split: str,
    tasks: list[dict[str, str]],
    *,
    in_scope: int | None,
    out_of_scope: int | None,
    seed: int,
) -> list[dict[str, Any]]:
    """Records for a seeded sample of one split ("val" or "test"), in-scope and out-of-scope shuffled together.

    Args:
        lists: The release's lists (see :func:`load_clinc`).
        split: "val" or "test".
        tasks: The catalogue every record offers (see :func:`catalogue`).
        in_scope: At most this many in-scope utterances (None: all).
        out_of_scope: At most this many out-of-scope utterances (None: all).
        seed: The seed of the sample and the order.

    Raises:
        SourceError: An in-scope utterance's intent has no training utterance (so it is not in the catalogue).
    """
    rng = seeded(seed, "clinc", split)
    names = {task["name"] for task in tasks}
    unknown = sorted({intent for _, intent in lists[split] if intent not in names})
    if unknown:
        raise SourceError(f"CLINC150 {split!r} intents {unknown[:5]} have no training utterance; {CLINC_HINT}")
    chosen = _sample(rng, lists[split], in_scope) + _sample(rng, lists[SPLITS[split]], out_of_scope)
    rng.shuffle(chosen)
    return [_record(split, number, text, intent, tasks) for number, (text, intent) in enumerate(chosen)]


def _record(split: str, number: int, text: str, intent: str, tasks: list[dict[str, str]]) -> dict[str, Any]:
    scoped = intent != OUT_OF_SCOPE
    label = {"turn_index": 0, "task": intent if scoped else "NONE", "event": "START" if scoped else "NONE"}
    return {
        "id": f"clinc-{split}-{number:04d}",
        "source": "clinc150",
        "split": split,
        "tasks": tasks,
        "turns": [{"role": "user", "text": text}],
        "labels": [label],
    }


def _task(intent: str, domain: str | None, examples: Sequence[str]) -> dict[str, str]:
    where = f" ({' '.join(domain.replace('&', 'and').replace('_', ' ').split())} domain)" if domain else ""
    quoted = "; ".join(f'"{text}"' for text in examples)
    return {"name": intent, "description": f"{humanize(intent)}{where}. Examples: {quoted}"}


def _sample(rng: random.Random, pairs: Pairs, size: int | None) -> Pairs:
    if size is None or size >= len(pairs):
        return list(pairs)
    return rng.sample(pairs, size)


def _is_pair(pair: Any) -> bool:
    return isinstance(pair, list) and len(pair) == 2 and all(isinstance(item, str) for item in pair)
