"""Is it the rule or the encoder? How far any rule over the learned router's own scores could take NONE (issue 23).

    python benchmarks/none_ceiling.py                        # the shipped learned router, ../shared/benchmarks
    python benchmarks/none_ceiling.py --datasets DIR --router-path models/learned

Every labelled turn is scored as the router scores it (gold active task before the turn). Then, per dataset:

1. the shipped rule (the model's NONE scores, argmax): turn accuracy;
2. an **oracle** NONE score fitted on the dataset itself (the best single constant): an upper bound for any
   threshold on the best cosine, fitted on data no user has;
3. an **oracle** logistic rule over five features of the turn's scores (best cosine, its gap to the second and to
   the catalogue's mean, the mean, the spread), fitted and measured on the dataset itself (an optimistic bound);
4. in-scope top-1 (the best task, "nothing fits" set aside): what no NONE rule can raise.

Oracles are diagnostics, never shipped: they read the dev set's labels. They say whether a better NONE rule could
meet a target, or whether only a better encoder can. Finally, two offsets that a rule could add (to "done" and to
the active task) are fitted on the held-out share of ``sgd_train`` the model's calibration uses, and applied to
the dev sets (``--offsets``; ~5 min more to score those turns).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path
from typing import Any

import numpy as np

from task_router._learned.training.calibrate import NOTHING, score_held_out
from task_router.evaluation import load_dataset
from task_router.routers import make_router

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
NAMES = ("sgd_dev", "sgd_digress_dev", "clinc_dev")


def scored_turns(router: Any, records: list[Any]) -> list[dict[str, Any]]:
    """Each labelled turn's candidate names, similarities and gold answer (index, or -1 for "nothing fits"), scored
    as the model's calibration scores its held-out turns."""
    return [
        {"names": t.names, "sims": t.similarities, "gold": -1 if t.gold == NOTHING else t.gold, "active": t.active_task}
        for t in score_held_out(router, records)
    ]


def accuracy(turns: list[dict[str, Any]], idle: float, busy: float, done: float = 0.0, stay: float = 0.0) -> float:
    right = 0
    for turn in turns:
        sims = turn["sims"].copy()
        for i, name in enumerate(turn["names"]):
            sims[i] += done if name is None else stay if name == turn["active"] else 0.0
        best = int(sims.argmax())
        says_none = sims[best] < (busy if turn["active"] else idle)
        right += (turn["gold"] == -1) if says_none else (best == turn["gold"])
    return right / len(turns)


def oracle_constant(turns: list[dict[str, Any]], idle: float, busy: float) -> tuple[float, float, float]:
    """(NONE score with nothing active, with a task active, accuracy): each the best single constant on the
    dataset's own turns of that kind."""
    grid = np.round(np.arange(0.1, 0.7001, 0.005), 3)
    idle_turns = [t for t in turns if not t["active"]]
    busy_turns = [t for t in turns if t["active"]]
    if idle_turns:
        idle = max(grid, key=lambda b: accuracy(idle_turns, float(b), busy))
    if busy_turns:
        busy = max(grid, key=lambda b: accuracy(busy_turns, idle, float(b)))
    return float(idle), float(busy), accuracy(turns, float(idle), float(busy))


def features(turn: dict[str, Any]) -> list[float]:
    tasks = np.array([s for s, n in zip(turn["sims"], turn["names"], strict=True) if n is not None])
    ranked = np.sort(tasks)[::-1]
    top = float(turn["sims"].max())
    second = float(ranked[1]) if len(ranked) > 1 else 0.0
    return [top, top - second, top - float(tasks.mean()), float(tasks.mean()), float(tasks.std())]


def oracle_logistic(turns: list[dict[str, Any]]) -> float | None:
    from sklearn.linear_model import LogisticRegression

    x = np.array([features(t) for t in turns])
    y = np.array([t["gold"] == -1 for t in turns])
    if y.all() or not y.any():
        return None
    right_if_answered = np.array([t["gold"] >= 0 and int(t["sims"].argmax()) == t["gold"] for t in turns])
    p = LogisticRegression(C=100.0, max_iter=2000).fit(x, y).predict_proba(x)[:, 1]
    return max(float(np.mean(np.where(p > c, y, right_if_answered))) for c in np.linspace(0.02, 0.98, 97))


def in_scope_top1(turns: list[dict[str, Any]]) -> float:
    answered = [t for t in turns if t["gold"] >= 0]
    return sum(int(t["sims"].argmax()) == t["gold"] for t in answered) / len(answered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument(
        "--router-path", default=None, help="a trained learned-router folder (default: the shipped one)"
    )
    parser.add_argument(
        "--offsets", action="store_true", help="also fit 'done' / active-task offsets (held-out sgd_train)"
    )
    args = parser.parse_args()
    router = make_router("learned", model_path=args.router_path)
    idle, busy = router.calibration.none_bias, router.calibration.none_bias_active
    scored = {name: scored_turns(router, load_dataset(args.datasets / f"{name}.jsonl.gz")) for name in NAMES}
    print(
        "| dataset | turns | shipped rule | oracle NONE scores (nothing active / a task active) | oracle 5-feature "
        "rule | in-scope top-1 |"
    )
    print("|---|---|---|---|---|---|")
    for name, turns in scored.items():
        best_idle, best_busy, best = oracle_constant(turns, idle, busy)
        logistic = oracle_logistic(turns)
        print(
            f"| {name} | {len(turns)} | {accuracy(turns, idle, busy):.3f} | {best:.3f} ({best_idle:.3f} / "
            f"{best_busy:.3f}) | "
            f"{'n/a' if logistic is None else f'{logistic:.3f}'} | {in_scope_top1(turns):.3f} |"
        )
    if args.offsets:
        offsets_table(router, scored, idle, busy)


def offsets_table(router: Any, scored: dict[str, list[dict[str, Any]]], idle: float, busy: float) -> None:
    """Offsets to "done" and to the active task, fitted on held-out training turns, applied to the dev sets."""

    from task_router._learned.training.config import LearnedTrainConfig
    from task_router._learned.training.train import calibration_records

    config = LearnedTrainConfig.of_model(router.model.path, data=[str(DATASETS / "sgd_train.jsonl.gz")])
    held_out = [t for t in scored_turns(router, calibration_records(config)) if t["active"]]
    grid = np.round(np.arange(-0.06, 0.0601, 0.01), 3)
    fits = {(d, s): accuracy(held_out, idle, busy, d, s) for d, s in itertools.product(grid, grid)}
    done, stay = max(fits, key=fits.get)
    print(f"\noffsets fitted on {len(held_out)} held-out sgd_train turns with a task active: done {done:+.2f}, active")
    print(f"task {stay:+.2f} (held-out accuracy {fits[(0.0, 0.0)]:.4f} -> {fits[(done, stay)]:.4f})")
    print("| dataset (turns with a task active) | without | with the offsets |\n|---|---|---|")
    for name in ("sgd_dev", "sgd_digress_dev"):
        turns = [t for t in scored[name] if t["active"]]
        print(f"| {name} | {accuracy(turns, idle, busy):.4f} | {accuracy(turns, idle, busy, done, stay):.4f} |")


if __name__ == "__main__":
    main()
