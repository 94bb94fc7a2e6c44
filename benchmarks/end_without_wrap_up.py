"""Does the learned router's END depend on the "Anything else?" before it? Held-out `sgd_train` conversations as they
are, and the same with the wrap-up exchange before one END of each conversation removed (the user's "Thanks." that
continued the task and the assistant's "Anything else?": `close_without_wrap_up`), so that the user closes the task
straight after the assistant's answer, as users of assistants that do not ask "anything else?" do. Gold active task.
Prints one table; changes nothing shipped.

    python benchmarks/end_without_wrap_up.py --router learned --router learned:/tmp/runs/s16  # ~1 min a router

Only the conversations held out of training (`split_held_out`, the 10% the shipped model is calibrated on) are read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from task_router._catalog import NONE_LABEL
from task_router._learned.model import learned_model_path
from task_router._learned.router import LearnedRouter
from task_router._learned.training.calibrate import NOTHING, ScoredAnswers, score_held_out
from task_router._learned.training.train import split_held_out
from task_router.evaluation import ConversationRecord, load_dataset
from task_router.training._augment import close_without_wrap_up

DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def answers(router: LearnedRouter, records: list[ConversationRecord]) -> list[tuple[str, str]]:
    """(gold, answer) of every labelled turn, scored as the router scores it: a task name, ``END`` ("done") or
    ``NONE``."""
    rows = []
    for turn in score_held_out(router, records):
        bias = router.calibration.none_score(active=turn.active)
        scores = np.append(turn.similarities, -np.inf if bias is None else bias)
        rows.append((_name(turn, turn.gold), _name(turn, int(np.argmax(scores)))))
    return rows


def _name(turn: ScoredAnswers, index: int) -> str:
    if index in (NOTHING, len(turn.similarities)):
        return NONE_LABEL
    return turn.names[index] or "END"


def summary(rows: list[tuple[str, str]]) -> dict[str, float]:
    ends = sum(gold == "END" for gold, _ in rows)
    said = sum(answer == "END" for _, answer in rows)
    right = sum(gold == answer == "END" for gold, answer in rows)
    recall, precision = right / max(1, ends), right / max(1, said)
    return {
        "turns": len(rows),
        "accuracy": sum(gold == answer for gold, answer in rows) / max(1, len(rows)),
        "END turns": ends,
        "END recall": recall,
        "END precision": precision,
        "END F1": 2 * recall * precision / max(1e-9, recall + precision),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", action="append", help="learned or learned:<dir> (repeatable; default: learned)")
    parser.add_argument("--data", type=Path, default=DATA, help="folder of sgd_train.jsonl.gz")
    args = parser.parse_args()
    _, held_out = split_held_out(load_dataset(args.data / "sgd_train.jsonl.gz"), 0.1)
    sets = {"held-out as is": held_out, "wrap-up before END removed": close_without_wrap_up(held_out, prob=1.0)}
    print("| router | set | turns | accuracy | END turns | END recall | END precision | END F1 |")
    print("|---|---|---|---|---|---|---|---|")
    for spec in args.router or ["learned"]:
        _, folder = learned_model_path(spec)
        router = LearnedRouter(model_path=folder)
        if router.use_cross_encoder:
            raise SystemExit(f"{spec} decides with a cross-encoder: this benchmark scores bi-encoder models only")
        for name, records in sets.items():
            row = summary(answers(router, records))
            cells = [f"{value:.3f}" if isinstance(value, float) else str(value) for value in row.values()]
            print(f"| {spec} | {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
