"""Is the learned router's confidence catalogue-size dependent, and how does a softmax over only its k best
answers change that? ECE per set and k, at the shipped temperature and at 1, for the shipped NONE scores. Prints
one table; changes nothing shipped.

    python benchmarks/softmax_top_k.py  # ~7 min on a 2-core AVX2 CPU

Sets: the held-out sgd_train turns the shipped model was calibrated on (catalogues of 7-54 tasks); the held-out
sgd_train conversations' first requests over one catalogue of every held-out task (53), a quarter of them with
their domain removed (gold: nothing fits); the held-out large catalogues the shipped ``top_k`` was chosen on
(hand-written task families never trained on, with the held-out tasks:
``task_router._learned.training.calibrate``); sgd_dev and clinc_dev (150 tasks), gold active task. A
choice of k has to hold on the training-derived sets: the dev sets are only there to measure.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

from task_router._calibration import expected_calibration_error
from task_router._catalog import NONE_LABEL
from task_router._learned.model import BUILTIN_DIR
from task_router._learned.router import LearnedRouter
from task_router._learned.training.calibrate import (
    TOP_K_GRID,
    ScoredAnswers,
    confidences,
    large_catalogue_records,
    score_held_out,
)
from task_router._learned.training.config import LearnedTrainConfig
from task_router._learned.training.train import calibration_records, split_held_out
from task_router.evaluation import ConversationRecord, load_dataset, parse_records

DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def one_large_catalogue(held_out: list[ConversationRecord], seed: int = 0) -> list[ConversationRecord]:
    """Each held-out conversation's first request that starts a task, over every held-out task; a quarter with the
    request's domain removed from the catalogue (gold: nothing fits)."""
    tasks: dict[str, dict] = {}
    for record in held_out:
        for task in record.tasks:
            tasks.setdefault(task["name"], task)
    rng = random.Random(seed)
    rows = []
    for record in held_out:
        first = next((label for label in record.labels if label.event == "START"), None)
        if first is None:  # a conversation whose labelled turns start no task (off topic only): no first request
            continue
        domain = first.task.split(".")[0].split("_")[0]
        if rng.random() < 0.25:
            catalogue = [t for name, t in tasks.items() if name.split(".")[0].split("_")[0] != domain]
            label = {"turn_index": 0, "task": NONE_LABEL, "event": "NONE"}
        else:
            catalogue = list(tasks.values())
            label = {"turn_index": 0, "task": first.task, "event": "START"}
        text = record.turns[first.turn_index].text
        rows.append(
            {
                "id": f"{record.id}#large",
                "tasks": catalogue,
                "turns": [{"role": "user", "text": text}],
                "labels": [label],
            }
        )
    return parse_records(rows)


def ece(turns: list[ScoredAnswers], router: LearnedRouter, k: int | None, temperature: float) -> tuple[float, ...]:
    """(ECE, mean confidence, accuracy) with the probabilities of the k best answers only (None: all)."""
    config = router.calibration
    confidence, right = confidences(
        turns,
        none_bias=config.none_bias,
        none_bias_active=config.none_bias_active,
        scale=config.bi_scale,
        temperature=temperature,
        top_k=k,
    )
    return expected_calibration_error(confidence, right), float(np.mean(confidence)), float(np.mean(right))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of sgd_train/sgd_dev/clinc_dev .jsonl.gz")
    args = parser.parse_args()
    config = LearnedTrainConfig.of_model(BUILTIN_DIR, data=[str(args.data / "sgd_train.jsonl.gz")], out="-")
    train = load_dataset(args.data / "sgd_train.jsonl.gz")
    _, held_out = split_held_out(train, config.calibration_share, by=config.calibration_split)
    router = LearnedRouter()
    sets = {
        "held-out sgd_train (calibration turns)": calibration_records(config, train),
        "held-out sgd_train, one 53-task catalogue": one_large_catalogue(held_out),
        "held-out large catalogues (task families)": large_catalogue_records(held_out, seed=config.seed + 2),
        "sgd_dev": load_dataset(args.data / "sgd_dev.jsonl.gz"),
        "clinc_dev": load_dataset(args.data / "clinc_dev.jsonl.gz"),
    }
    scored = {name: score_held_out(router, records) for name, records in sets.items()}
    temperatures = (router.calibration.temperature, 1.0)
    print("ECE (mean confidence / accuracy) per set, softmax over the k best answers")
    print("| k | temperature | " + " | ".join(f"{name} ({len(turns)} turns)" for name, turns in scored.items()) + " |")
    print("|---|---|" + "---|" * len(scored))
    for k in (None, *[k for k in TOP_K_GRID if k is not None]):
        for temperature in temperatures:
            cells = [ece(turns, router, k, temperature) for turns in scored.values()]
            text = " | ".join(f"{e:.3f} ({c:.3f} / {a:.3f})" for e, c, a in cells)
            print(f"| {k or 'all'} | {temperature:.3f} | {text} |")


if __name__ == "__main__":
    main()
