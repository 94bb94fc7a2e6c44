"""The turn after a digression, read with the off-topic exchange in the learned router's window (as before
session 17) and past it (the shipped reading: the graph marks its reply to a digression, and the router reads the
next turn with the message before the exchange). Gold active task; one line per set and kind of digression.

    python benchmarks/after_digression_window.py  # ~1-2 min on a 2-core AVX2 CPU

The held-out sgd_train conversations decide; sgd_digress_dev is only there to measure. Two kinds of digression
are counted apart by the assistant's reply to it: refused, as the graph's None node refuses (the off-topic requests
training inserts mid-task), and served, where the original assistant went on with a request of a service the
catalogue lost (held-out records only: the graph never serves a NONE turn, so these do not occur there). Session 15
pooled the two and found the window worse without the exchange (0.821 -> 0.807).
"""

from __future__ import annotations

import argparse
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

from task_router._catalog import NONE_LABEL
from task_router._learned.model import BUILTIN_DIR
from task_router._learned.router import LearnedRouter
from task_router._learned.training.config import LearnedTrainConfig
from task_router._learned.training.train import calibration_records
from task_router._router_input import coerce_input
from task_router.evaluation import ConversationRecord, load_dataset
from task_router.training._augment import OFF_TOPIC_REPLIES
from task_router.training._sequences import turn_targets

DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
REFUSAL_LISTING = "I can't help with that here. This is what I can do:"  # training's other refusal, with tasks


def answer(router: LearnedRouter, record: ConversationRecord, messages: list[dict[str, Any]], active: str) -> str:
    """The router's answer: a task name, ``END`` ("done") or ``NONE``."""
    task, closing, _, _ = router.scored(
        coerce_input({"messages": messages, "active_task": active, "catalog": record.catalog()})
    )[0]
    return "END" if closing else NONE_LABEL if task is None else task


def after_digressions(router: LearnedRouter, records: list[ConversationRecord]) -> Counter[tuple[str, str]]:
    """Counts per (kind of digression: "refused" / "served", then "turns" / "with the exchange" / "past it"): turns
    after a digression, and how many the router gets right each way."""
    counts: Counter[tuple[str, str]] = Counter()
    for record in records:
        for digression, target in pairwise(turn_targets(record)):
            if digression.answer != NONE_LABEL or digression.active_before is None or target.active_before is None:
                continue
            after = digression.turn_index + 1
            reply = record.turns[after].text if after < target.turn_index else ""
            kind = "refused" if reply in OFF_TOPIC_REPLIES or reply.startswith(REFUSAL_LISTING) else "served"
            gold = "END" if target.closing else target.answer
            counts[kind, "turns"] += 1
            with_exchange = record.messages_until(target.turn_index, off_topic=())
            counts[kind, "with the exchange"] += answer(router, record, with_exchange, target.active_before) == gold
            past_it = record.messages_until(target.turn_index)  # the gold digressions' replies marked
            counts[kind, "past it"] += answer(router, record, past_it, target.active_before) == gold
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of sgd_train/sgd_digress_dev .jsonl.gz")
    args = parser.parse_args()
    config = LearnedTrainConfig.of_model(BUILTIN_DIR, data=[str(args.data / "sgd_train.jsonl.gz")], out="-")
    router = LearnedRouter()
    sets = {
        "held-out sgd_train": calibration_records(config, load_dataset(args.data / "sgd_train.jsonl.gz")),
        "sgd_digress_dev": load_dataset(args.data / "sgd_digress_dev.jsonl.gz"),
    }
    print("| set | digression | turns after it | right, exchange in the window | right, read past it |")
    print("|---|---|---|---|---|")
    for name, records in sets.items():
        counts = after_digressions(router, records)
        for kind in ("refused", "served"):
            turns = counts[kind, "turns"]
            if turns:
                print(f"| {name} | {kind} | {turns} | {counts[kind, 'with the exchange'] / turns:.3f} | "
                      f"{counts[kind, 'past it'] / turns:.3f} |")  # fmt: skip


if __name__ == "__main__":
    main()
