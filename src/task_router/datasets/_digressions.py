"""Digression records: SGD conversations with one off-topic user request inserted mid-task.

Each conversation gets one user turn inserted right after the assistant's reply to a turn that leaves a task active
(and is not the last labelled turn); its text is an out-of-scope utterance, followed by the assistant turn
:data:`REFUSAL`. Its label is ``{task: NONE, event: NONE, digression: true}``; the other labels are unchanged (the
active task stays active), their turn indices shifted past the insertion.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from task_router.datasets._common import seeded

REFUSAL = "Sorry, I can't help with that here."
_ACTIVE_AFTER = ("START", "CONTINUE", "SWITCH")  # events that leave a task active


def off_topic_texts(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The user text of every record labelled NONE (the out-of-scope utterances of a CLINC150 file)."""
    return [
        record["turns"][label["turn_index"]]["text"]
        for record in records
        for label in record["labels"]
        if label["task"] == "NONE"
    ]


def insert_digressions(
    records: Iterable[Mapping[str, Any]], texts: Sequence[str], *, seed: int
) -> list[dict[str, Any]]:
    """One digression record (id ``<id>+digress``) per record that has a place for one.

    Args:
        records: SGD benchmark records.
        texts: Off-topic utterances to draw from (see :func:`off_topic_texts`).
        seed: The seed of each record's place and text.

    Raises:
        ValueError: ``texts`` is empty.
    """
    if not texts:
        raise ValueError("no out-of-scope utterances to insert as digressions; give a CLINC150 file with some")
    digressed = []
    for record in records:
        rng = seeded(seed, "digress", record["id"])
        places = [label for label in record["labels"][:-1] if _leaves_task_active(record, label)]
        if places:
            digressed.append(_insert(record, rng.choice(places)["turn_index"] + 2, rng.choice(texts)))
    return digressed


def _leaves_task_active(record: Mapping[str, Any], label: Mapping[str, Any]) -> bool:
    reply = label["turn_index"] + 1
    return (
        label["event"] in _ACTIVE_AFTER
        and label["task"] != "NONE"
        and reply < len(record["turns"])
        and record["turns"][reply]["role"] == "assistant"
    )


def _insert(record: Mapping[str, Any], at: int, text: str) -> dict[str, Any]:
    """A copy of ``record`` with the off-topic request ``text`` and the refusal inserted at turn index ``at``."""
    new = copy.deepcopy(dict(record))
    new["id"] = f"{record['id']}+digress"
    new["turns"][at:at] = [{"role": "user", "text": text}, {"role": "assistant", "text": REFUSAL}]
    labels = []
    for label in new["labels"]:
        if label["turn_index"] >= at:
            label["turn_index"] += 2
        labels.append(label)
    labels.append({"turn_index": at, "task": "NONE", "event": "NONE", "digression": True})
    new["labels"] = sorted(labels, key=lambda label: label["turn_index"])
    return new
