"""Would the turn after a digression be read better without the off-topic exchange in the query's window? The
learned router's answer to each turn that follows a digression (NONE with a task active), with the messages as they
are and with the off-topic request and the reply to it left out; gold active task. Prints one line per set;
changes nothing shipped.

    python benchmarks/after_digression_window.py  # ~1-2 min on a 2-core AVX2 CPU

The held-out sgd_train conversations (with the off-topic requests training inserts) decide; sgd_digress_dev is
only there to measure.
"""

from __future__ import annotations

import argparse
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
from task_router.training._sequences import turn_targets

DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def answer(router: LearnedRouter, record: ConversationRecord, messages: list[dict[str, Any]], active: str) -> str:
    """The router's answer: a task name, ``END`` ("done") or ``NONE``."""
    task, closing, _, _ = router.scored(
        coerce_input({"messages": messages, "active_task": active, "catalog": record.catalog()})
    )[0]
    return "END" if closing else NONE_LABEL if task is None else task


def after_digressions(router: LearnedRouter, records: list[ConversationRecord]) -> tuple[int, int, int]:
    """(turns after a digression, right with the exchange, right without it)."""
    turns = with_exchange = without = 0
    for record in records:
        targets = turn_targets(record)
        for digression, target in pairwise(targets):
            if digression.answer != NONE_LABEL or digression.active_before is None or target.active_before is None:
                continue
            gold = "END" if target.closing else target.answer
            messages = record.messages_until(target.turn_index)
            left_out = messages[: digression.turn_index] + messages[digression.turn_index + 2 :]
            turns += 1
            with_exchange += answer(router, record, messages, target.active_before) == gold
            without += answer(router, record, left_out, target.active_before) == gold
    return turns, with_exchange, without


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
    for name, records in sets.items():
        turns, with_exchange, without = after_digressions(router, records)
        print(f"{name}: {turns} turns after a digression, right {with_exchange / turns:.3f} with the off-topic "
              f"exchange in the window, {without / turns:.3f} without it")  # fmt: skip


if __name__ == "__main__":
    main()
