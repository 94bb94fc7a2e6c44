"""How flat the held-out accuracy is around a learned model's fitted NONE scores.

The calibration after training (`task-router train --router learned`) picks each NONE score (nothing active / a task
active) where the held-out `sgd_train` turns are most often right, the middle of the best plateau. This prints, per
kind of turn, the accuracy at a grid of scores, its best, its standard error, and the range of scores whose accuracy
is within one standard error of the best: how much the data, rather than chance, fixes the score.

    python benchmarks/none_score_plateau.py --model builtin
    python benchmarks/none_score_plateau.py --model models/learned

Reads the held-out conversations the folder's `training.json` names (`calibration_records`), so the training file
must be where it was (or give --data).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from task_router._learned.model import BUILTIN_DIR, LearnedModel
from task_router._learned.router import LearnedRouter
from task_router._learned.training.calibrate import (
    _BIASES,
    _accuracy,
    best_bias,
    near_best_biases,
    score_held_out,
    standard_error,
)
from task_router._learned.training.config import LearnedTrainConfig
from task_router._learned.training.train import calibration_records

GRID = np.round(np.arange(0.30, 0.5501, 0.025), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin", help="a trained learned folder, or builtin")
    parser.add_argument("--data", nargs="*", help="the training file(s), if not where training.json says")
    args = parser.parse_args()
    folder = BUILTIN_DIR if args.model == "builtin" else Path(args.model).expanduser()
    meta = json.loads((folder / "training.json").read_text(encoding="utf-8"))
    config = LearnedTrainConfig.of_meta(meta, out=str(folder), **({"data": args.data} if args.data else {}))
    turns = score_held_out(LearnedRouter(model=LearnedModel.load(folder)), calibration_records(config))
    print(f"model {folder}\n")
    print(
        "| turns | n | best score | best accuracy | SE | within 1 SE | " + " | ".join(f"{b:.3f}" for b in GRID) + " |"
    )
    print("|---" * (6 + len(GRID)) + "|")
    for name, part in (
        ("nothing active", [t for t in turns if not t.active]),
        ("a task active", [t for t in turns if t.active]),
    ):
        accuracy = _accuracy(part, _BIASES)
        bias, best = best_bias(part)
        se = standard_error(best, len(part))
        low, high = near_best_biases(part)
        cells = [f"{accuracy[int(np.argmin(abs(_BIASES - b)))]:.4f}" for b in GRID]
        print(
            f"| {name} | {len(part)} | {bias:.3f} | {best:.4f} | {se:.4f} | {low:.3f}-{high:.3f} | "
            + " | ".join(cells)
            + " |"
        )


if __name__ == "__main__":
    main()
