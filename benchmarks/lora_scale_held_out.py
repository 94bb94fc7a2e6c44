"""Which LoRA scale (WiSE-FT: the share of the trained update merged into the base encoder) does held-out data
choose? For each scale, the shipped adapter is loaded at that scale, calibrated as training calibrates (NONE scores
and temperature on the held-out sgd_train turns, then ``top_k``), and scored on the held-out turns and on the
held-out large catalogues (hand-written task families never trained on, with the held-out tasks: unseen domains).
Prints one table; changes nothing shipped.

    python benchmarks/lora_scale_held_out.py  # ~5 min a scale on a 2-core AVX2 CPU

The shipped 0.7 was chosen in session 4 on clinc_dev's in-scope top-1; this asks the same question of data that
is not an evaluation set. ``--dev`` also scores sgd_dev and clinc_dev (gold active task) to measure the choice.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from task_router._learned.model import BUILTIN_DIR, CONFIG_FILE
from task_router._learned.router import LearnedRouter
from task_router._learned.training.calibrate import (
    NOTHING,
    ScoredAnswers,
    choose_top_k,
    fit_calibration,
    large_catalogue_records,
    score_held_out,
)
from task_router._learned.training.config import LearnedTrainConfig
from task_router._learned.training.train import calibration_records, split_held_out
from task_router.evaluation import load_dataset

DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
SCALES = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def accuracy(turns: list[ScoredAnswers], none_bias: float, none_bias_active: float) -> float:
    """Turn accuracy with these NONE scores: NONE above the best other answer, else the best answer."""
    right = []
    for turn in turns:
        bias = none_bias_active if turn.active else none_bias
        best = int(np.argmax(turn.similarities))
        says_none = bias > turn.similarities[best]
        right.append(turn.gold == NOTHING if says_none else best == turn.gold)
    return float(np.mean(right))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the benchmark .jsonl.gz files")
    parser.add_argument("--scales", type=float, nargs="+", default=SCALES)
    parser.add_argument("--dev", action="store_true", help="also score sgd_dev and clinc_dev (to measure only)")
    args = parser.parse_args()
    config = LearnedTrainConfig.of_model(BUILTIN_DIR, data=[str(args.data / "sgd_train.jsonl.gz")], out="-")
    train = load_dataset(args.data / "sgd_train.jsonl.gz")
    _, held_out = split_held_out(train, config.calibration_share, by=config.calibration_split)
    sets = {
        "held-out turns": calibration_records(config, train),
        "large catalogues": large_catalogue_records(held_out, seed=config.seed + 2),
    }
    if args.dev:
        sets |= {name: load_dataset(args.data / f"{name}.jsonl.gz") for name in ("sgd_dev", "clinc_dev")}
    print(f"| LoRA scale | NONE scores | temperature | top_k | {' | '.join(sets)} | mean of the held-out two |")
    print("|---|---|---|---|" + "---|" * len(sets) + "---|")
    with tempfile.TemporaryDirectory() as tmp:
        for scale in args.scales:
            folder = Path(tmp) / f"scale-{scale}"
            shutil.copytree(BUILTIN_DIR, folder)
            learned = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
            (folder / CONFIG_FILE).write_text(json.dumps({**learned, "lora_scale": scale}), encoding="utf-8")
            router = LearnedRouter(model_path=folder)
            scored = {name: score_held_out(router, records) for name, records in sets.items()}
            fit = fit_calibration(scored["held-out turns"], scale=router.calibration.bi_scale)
            biases = {"none_bias": fit["none_bias"], "none_bias_active": fit["none_bias_active"]}
            top_k = choose_top_k(
                {name: scored[name] for name in ("held-out turns", "large catalogues")},
                **biases,
                scale=router.calibration.bi_scale,
                temperature=fit["temperature"],
            )["top_k"]
            accuracies = {name: accuracy(turns, **biases) for name, turns in scored.items()}
            held = (accuracies["held-out turns"] + accuracies["large catalogues"]) / 2
            cells = " | ".join(f"{value:.3f}" for value in accuracies.values())
            print(
                f"| {scale} | {biases['none_bias']:.3f} / {biases['none_bias_active']:.3f} | {fit['temperature']:.3f} "
                f"| {top_k} | {cells} | {held:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
