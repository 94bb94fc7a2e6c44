"""clinc_dev (150 tasks, out of domain for an SGD-trained model): in-scope top-1 and None detection, with and without
a None threshold fitted on clinc_dev[0::2] and reported on clinc_dev[1::2]. Prints a table, writes clinc_none.json.

    python benchmarks/clinc_none.py --router learned --out runs/clinc_none
    python benchmarks/clinc_none.py --router embedding --out runs/clinc_none_embedding
    python benchmarks/clinc_none.py --router learned:models/learned --out runs/clinc_none_mine

Decisions are the router's own, one user turn per record (no active task), exactly as ``task-router eval`` makes
them; "in-scope top-1" is the router's best task with "no task" and any threshold set aside (the ceiling of what
abstention can keep). The threshold is chosen by ``task_router._calibration.choose_none_threshold`` (best accuracy on
the fitting half), as ``task-router fit`` does.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from task_router._calibration import choose_none_threshold, turns_from_predictions
from task_router._catalog import NONE_LABEL
from task_router._router_input import coerce_input
from task_router._thresholds import ScoredTurn, apply_none
from task_router.evaluation import load_dataset
from task_router.evaluation._metrics import prf
from task_router.evaluation._replay import replay
from task_router.routers import make_router

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "clinc_dev.jsonl.gz"


def build(kind: str):
    if kind.startswith("learned"):
        _, _, path = kind.partition(":")
        return make_router("learned", model_path=path or None)
    if kind == "embedding":
        return make_router("embedding", model=None, threshold=None)  # abstention is the fitted threshold's job
    raise SystemExit(f"--router {kind!r}: use learned, learned:<dir> or embedding")


def best_task(router, record) -> str:
    """The router's most likely task for the record's only turn, "no task" and thresholds set aside."""
    routing = coerce_input({"messages": record.messages_until(record.labels[0].turn_index)}, record.catalog())
    if router.kind == "learned":
        return next(name for name, *_ in router.scored(routing) if name is not None)
    scores, _ = router.scores(routing)
    return max(scores, key=scores.__getitem__)


def figures(turns: list[ScoredTurn], threshold: float | None) -> dict[str, float]:
    named = [t.proposed if threshold is None else apply_none(t, threshold) for t in turns]
    gold = [t.gold for t in turns]
    in_scope = [n == g for n, g in zip(named, gold, strict=True) if g != NONE_LABEL]
    none = prf([g == NONE_LABEL for g in gold], [n == NONE_LABEL for n in named])
    return {
        "accuracy": sum(n == g for n, g in zip(named, gold, strict=True)) / len(turns),
        "in_scope_accuracy": sum(in_scope) / len(in_scope),
        "none_precision": none["precision"],
        "none_recall": none["recall"],
        "none_f1": none["f1"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", default="learned")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--out", type=Path, default=Path("runs/clinc_none"))
    args = parser.parse_args()
    records = load_dataset(args.dataset)
    router = build(args.router)
    turns = turns_from_predictions(replay(records, router, state="gold", progress=False))
    fit, held = turns[0::2], turns[1::2]
    threshold, point = choose_none_threshold(fit)
    top1 = [best_task(router, r) == r.labels[0].task for r in records if r.labels[0].task != NONE_LABEL]
    result = {
        "router": args.router,
        "model": router.model_label,
        "dataset": str(args.dataset),
        "in_scope_top1": sum(top1) / len(top1),
        "no_threshold": {"all": figures(turns, None), "heldout": figures(held, None)},
        "threshold": threshold,
        "fit_point": point,
        "heldout": figures(held, threshold),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "clinc_none.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    rows = [
        ("no threshold, all 600", result["no_threshold"]["all"]),
        ("no threshold, [1::2]", result["no_threshold"]["heldout"]),
        (f"threshold {threshold:.3f} (fit [0::2]), [1::2]", result["heldout"]),
    ]
    print(f"{router.model_label}: in-scope top-1 {result['in_scope_top1']:.3f} (500 in-scope turns)")
    print("| rows | accuracy | in-scope accuracy | None precision | None recall | None F1 |")
    print("|---|---|---|---|---|---|")
    for name, f in rows:
        cells = (f["accuracy"], f["in_scope_accuracy"], f["none_precision"], f["none_recall"], f["none_f1"])
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")


if __name__ == "__main__":
    main()
