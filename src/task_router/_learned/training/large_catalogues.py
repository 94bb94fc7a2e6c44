"""Held-out catalogues of 100+ tasks, on which a learned router's ``top_k`` is chosen.

A softmax over a catalogue's every task spreads probability over many far tasks; over 150 tasks it does so far
more than over SGD's 7-54, so the same model is under-confident on large catalogues. The held-out training
conversations have at most SGD's tasks, so they cannot say how many answers the confidence should be a softmax
over. These records can: the hand-written task families of ``data/task_families.txt`` (never trained on) with the
held-out conversations' tasks, one catalogue of 150+ tasks. Nothing here reads an evaluation set.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from task_router._catalog import NONE_LABEL
from task_router.evaluation import ConversationRecord, parse_records
from task_router.training._augment import domain_of, example_style_description, written_topics

FAMILIES_FILE = Path(__file__).resolve().parent / "data" / "task_families.txt"
EXAMPLES_IN_DESCRIPTION = 2  # as intent catalogues often do (CLINC150 style): the rest of the requests are turns
NONE_SHARE = 0.25  # of the requests asked with their whole family (or SGD domain) removed: nothing fits


def large_catalogue_records(
    held_out: Sequence[ConversationRecord], *, seed: int, path: Path = FAMILIES_FILE
) -> list[ConversationRecord]:
    """One-turn records over one catalogue of every task family of ``path`` and every task of ``held_out``: each
    family request (once with the families described by a sentence, once by a sentence, their domain and two
    example requests, which are then not asked) and each held-out conversation's first request. A quarter of them
    are asked with their family's or domain's tasks removed (gold: nothing fits).

    Example:
        >>> records = large_catalogue_records([], seed=0)
        >>> len(records[0].tasks) >= 100, len(records) > 1000
        (True, True)
    """
    rng = random.Random(seed)
    families = written_topics(path)
    sgd_tasks: dict[str, dict[str, Any]] = {}
    for record in held_out:
        for task in record.tasks:
            sgd_tasks.setdefault(str(task["name"]), task)
    rows = []
    for with_examples in (False, True):
        described = {
            name: {
                "name": name,
                "description": example_style_description(
                    {"name": name, "description": description}, requests[:EXAMPLES_IN_DESCRIPTION]
                )
                if with_examples
                else description,
            }
            for name, (description, requests) in families.items()
        }
        catalogue = [*described.values(), *sgd_tasks.values()]
        skip = EXAMPLES_IN_DESCRIPTION if with_examples else 0
        asked: list[tuple[str, str]] = [
            (text, name) for name, (_, requests) in families.items() for text in requests[skip:]
        ]
        if not with_examples:  # a conversation that starts no task (NONE alone) has no first request to ask
            asked += [request for record in held_out if (request := _first_request(record)) is not None]
        rows += [
            _row(f"large-{int(with_examples)}-{i}", text, task, catalogue, rng) for i, (text, task) in enumerate(asked)
        ]
    return parse_records(rows)


def _first_request(record: ConversationRecord) -> tuple[str, str] | None:
    first = next((label for label in record.labels if label.event == "START"), None)
    return None if first is None else (record.turns[first.turn_index].text, first.task)


def _row(row_id: str, text: str, task: str, catalogue: Sequence[dict[str, Any]], rng: random.Random) -> dict[str, Any]:
    if rng.random() < NONE_SHARE:
        domain = domain_of(task)
        tasks = [t for t in catalogue if domain_of(str(t["name"])) != domain]
        label = {"turn_index": 0, "task": NONE_LABEL, "event": "NONE"}
    else:
        tasks = list(catalogue)
        label = {"turn_index": 0, "task": task, "event": "START"}
    return {"id": row_id, "tasks": tasks, "turns": [{"role": "user", "text": text}], "labels": [label]}
