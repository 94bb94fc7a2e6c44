"""NONE by default, digressions, calibration and asking: the figures of issue 23 for one router, in one run.

    python benchmarks/none_and_asking.py                                  # the shipped learned router
    python benchmarks/none_and_asking.py --router learned:models/learned  # a folder you trained
    python benchmarks/none_and_asking.py --datasets DIR --out runs/none   # benchmark files elsewhere

Prints three tables and writes ``none_and_asking.json``:

1. **Defaults** (no fitting): each dataset replayed with the router's own decisions as the active task, as
   ``task-router eval`` does: task accuracy, clinc's in-scope top-1 (the best task with "nothing fits" set aside),
   None F1, digression precision / recall, the turn after a digression, START / SWITCH / END F1, ECE, the errors
   that name a task of the gold task's own service, p50 latency.
2. **Fitted on another dataset**: what ``task-router fit`` fits on one set (gold active task; for the learned router
   its NONE scores and temperature, for other kinds a None threshold), applied to the other, sgd_digress_dev <->
   clinc_dev, next to the defaults.
3. **Risk-coverage on sgd_dev**: for each margin, the share of turns the graph would ask on and the errors left
   (each asked turn counted as settled, nothing more: a lower bound), then the same replayed with the answers
   settling the turn and the active task it leads to (what the graph does, the user answering right).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from task_router._calibration import choose_none_threshold, turns_from_predictions
from task_router._router_input import coerce_input
from task_router.evaluation import evaluate_router, load_dataset
from task_router.evaluation._replay import replay
from task_router.routers import make_router
from task_router.routers._compose import Abstain

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
NAMES = ("sgd_dev", "sgd_digress_dev", "clinc_dev")


def build(kind: str) -> Any:
    name, _, path = kind.partition(":")
    if name != "learned":
        return make_router(name, model=None) if name == "embedding" else make_router(name)
    return make_router("learned", model_path=path or None)


def in_scope_top1(router: Any, records: list[Any]) -> float | None:
    """Single-turn records: the router's best task (nothing fits set aside) on the in-scope ones."""
    if router.kind != "learned" or any(len(r.labels) != 1 for r in records):
        return None
    right = total = 0
    for record in records:
        label = record.labels[0]
        if label.task == "NONE":
            continue
        routing = coerce_input({"messages": record.messages_until(label.turn_index)}, record.catalog())
        best = next(task for task, *_ in router.scored(routing) if task is not None)
        right += best == label.task
        total += 1
    return right / total if total else None


# Finer where asking reaches 5% of sgd_dev's turns (0.7-0.8): the risk-coverage curve, not one chosen point
REPLAYED_MARGINS = (0.1, 0.3, 0.5, 0.55, 0.6, 0.65, 0.7, 0.72, 0.74, 0.75, 0.8)


def simulate_asking(router: Any, records: list[Any], margin: float) -> dict[str, Any]:
    """Replay with the router's own state, asking whenever its two most probable tasks are closer than ``margin``;
    the user's answer is taken to settle the turn (the gold decision, whose active task then carries on), so the
    errors an early mistake would have carried through the conversation are credited too."""
    from task_router._clarify import asks_between
    from task_router.training._sequences import turn_targets

    turns = asked = right = 0
    for record in records:
        catalog = record.catalog()
        active = None
        off_topic: set[int] = set()  # as the replay marks them: the turns answered NONE with a task active
        for target, label in zip(turn_targets(record), record.labels, strict=True):
            messages = record.messages_until(label.turn_index, off_topic=off_topic)
            decision = router.invoke({"messages": messages, "active_task": active, "catalog": catalog})
            turns += 1
            if asks_between(decision, margin):  # the graph's own rule: a decision picking one of close tasks
                asked += 1
                right += 1
                active = target.active_after  # the user's answer picks the right task
                continue
            right += (decision.task or "NONE") == label.task
            if decision.event == "NONE" and active is not None:
                off_topic.add(label.turn_index)
            active = decision.active_task_after
    return {"margin": margin, "asked": asked / turns, "task_accuracy": right / turns}


def fit(router: Any, records: list[Any], kind: str) -> tuple[Any, str]:
    """What ``task-router fit`` makes of ``records`` (gold active task): the learned router's NONE scores and
    temperature refitted; for other kinds a None threshold (best accuracy) to abstain below."""
    from task_router._learned.router import LearnedRouter
    from task_router._learned.training.calibrate import fit_calibration, score_held_out

    if isinstance(router, LearnedRouter) and router.calibration.none_bias is not None:
        own = router.calibration
        keep = {"none_bias": own.none_score(active=False), "none_bias_active": own.none_score(active=True)}
        fitted = fit_calibration(score_held_out(router, records), scale=own.bi_scale, keep=keep)
        keys = ("none_bias", "none_bias_active", "temperature")
        _, _, path = kind.partition(":")
        refitted = make_router("learned", model_path=path or None, **{key: fitted[key] for key in keys})
        return refitted, ", ".join(f"{key} {fitted[key]:.3f}" for key in keys)
    turns = turns_from_predictions(replay(records, router, state="gold", progress=False))
    threshold, _ = choose_none_threshold(turns)
    return Abstain(router, threshold=threshold), f"none {threshold:.3f}"


def defaults_row(name: str, metrics: dict[str, Any], top1: float | None) -> dict[str, Any]:
    events = metrics["events"]
    return {
        "dataset": name,
        "task_accuracy": metrics["task_accuracy"],
        "in_scope_top1": top1,
        "none_f1": metrics["none_detection"]["f1"] if metrics["none_detection"]["support"] else None,
        "digression_precision": metrics["digressions"]["precision"] if metrics["digressions"]["support"] else None,
        "digression_recall": metrics["digressions"]["recall"] if metrics["digressions"]["support"] else None,
        "after_digression": metrics["after_digression"]["task_accuracy"] if metrics["after_digression"]["n"] else None,
        **{f"{e.lower()}_f1": events[e]["f1"] if events[e]["support"] else None for e in ("START", "SWITCH", "END")},
        "ece": metrics["calibration"]["ece"],
        "same_service_errors": metrics["same_service_errors"]["n"],
        "invalid": metrics["invalid_format"],
        "p50_ms": metrics["latency_ms"]["p50"],
    }


def _cell(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def table(rows: list[dict[str, Any]]) -> str:
    header = list(rows[0])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(row[key]) for key in header) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", default="learned")
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--out", type=Path, default=Path("runs/none_and_asking"))
    args = parser.parse_args()
    router = build(args.router)
    data = {name: load_dataset(args.datasets / f"{name}.jsonl.gz") for name in NAMES}
    runs = {name: evaluate_router(records, router, dataset=name, progress=False) for name, records in data.items()}
    defaults = [
        defaults_row(name, run.metrics, in_scope_top1(router, data[name]) if name == "clinc_dev" else None)
        for name, run in runs.items()
    ]
    transfer = []
    for fit_on, apply_to in (("sgd_digress_dev", "clinc_dev"), ("clinc_dev", "sgd_digress_dev")):
        fitted_router, fitted_label = fit(router, data[fit_on], args.router)
        fitted = evaluate_router(data[apply_to], fitted_router, dataset=apply_to, progress=False)
        for label, metrics in (("defaults", runs[apply_to].metrics), (f"fit on {fit_on}", fitted.metrics)):
            transfer.append(
                {
                    "apply to": apply_to,
                    "threshold": label if label == "defaults" else f"{label}: {fitted_label}",
                    "task_accuracy": metrics["task_accuracy"],
                    "none_f1": metrics["none_detection"]["f1"],
                    "none_precision": metrics["none_detection"]["precision"],
                    "none_recall": metrics["none_detection"]["recall"],
                    "ece": metrics["calibration"]["ece"],
                }
            )
    coverage = [
        {
            "margin": r["margin"],
            "asked": r["asked"],
            "errors_left": r["errors_left"],
            "errors_removed": r["errors_removed"],
        }
        for r in runs["sgd_dev"].metrics["risk_coverage"]
    ]
    baseline = runs["sgd_dev"].metrics["task_accuracy"]
    simulated = [simulate_asking(router, data["sgd_dev"], margin) for margin in REPLAYED_MARGINS]
    for row in simulated:
        row["errors_removed"] = (row["task_accuracy"] - baseline) / (1.0 - baseline) if baseline < 1 else 0.0
    print(f"router {router.kind} ({router.model_label})\n\n## Defaults\n{table(defaults)}")
    print(f"\n## Fitted on the other dataset\n{table(transfer)}")
    print(f"\n## Risk-coverage on sgd_dev (asking between the two most probable tasks)\n{table(coverage)}")
    print(f"\n## Asking, replayed (the answer settles the turn and what it carries over)\n{table(simulated)}")
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "router": args.router,
        "defaults": defaults,
        "transfer": transfer,
        "risk_coverage": coverage,
        "asking_replayed": simulated,
    }
    (args.out / "none_and_asking.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
