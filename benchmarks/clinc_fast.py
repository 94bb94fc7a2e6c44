"""Issue 9, batched: shortlist recall@k and the None threshold on clinc_dev (150 tasks) with MiniLM similarity.

Same scores as the embedding router / TaskRetriever (best cosine over a task's texts, query = the user's turn),
computed in one batch so it finishes on a loaded machine. Threshold fitted on clinc_dev[0::2], reported on [1::2].
Run: python benchmarks/clinc_fast.py --out /tmp/issue9
With ``--rerank embedded`` the scores are the embedding router's after the reranker (one decision at a time, as the
router computes them; prints the decision latency too).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from task_router._calibration import (
    ScoredTurn,
    abstention_curve,
    choose_none_threshold,
    expected_calibration_error,
    plot_abstention,
    plot_reliability,
)
from task_router._inference.benchmark import percentile
from task_router._router_input import coerce_input
from task_router.evaluation import load_dataset
from task_router.routers._embedding import EmbeddingRouter
from task_router.routers._shortlist import recall_at_k

BENCH = Path("/work/shared/benchmarks")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/issue9"))
    parser.add_argument("--rerank", default=None, help="local model spec of a reranker (e.g. embedded)")
    parser.add_argument("--dataset", type=Path, default=BENCH / "clinc_dev.jsonl.gz")
    args = parser.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    records = load_dataset(args.dataset)
    embedder = EmbeddingRouter(threshold=None, rerank=args.rerank)
    catalog = records[0].catalog()  # all records share the 150-task catalogue
    names, rows, owner = embedder.task_matrix(catalog)
    users = [r.turns[r.labels[0].turn_index].text for r in records]
    gold = [r.labels[0].task for r in records]
    result: dict = {"rerank": args.rerank}
    if args.rerank is None:
        sims = embedder.embed(users) @ rows.T
        best = np.stack([sims[:, owner == j].max(1) for j in range(len(names))], axis=1)
    else:
        rows_of_scores, latencies = [], []
        for text in users:
            start = time.perf_counter()
            scores = embedder.scores(coerce_input({"messages": [("user", text)]}, catalog))[0]
            latencies.append(1000 * (time.perf_counter() - start))
            rows_of_scores.append([scores[name] for name in names])
        best = np.array(rows_of_scores)
        result["latency_ms"] = {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95)}
    np.save(out / "scores.npy", best)  # one row per record, one column per task (catalogue order)
    ranked = [[names[j] for j in np.argsort(-row)] for row in best]
    result["recall_at_k"] = recall_at_k(ranked, gold, (1, 3, 5, 10, 20, 30))
    turns = [
        ScoredTurn(r[0], float(min(1.0, max(0.0, row.max()))), g) for r, row, g in zip(ranked, best, gold, strict=True)
    ]
    fit, test = turns[0::2], turns[1::2]
    for rule, target in (("max accuracy", None), ("in-scope >= 0.85", 0.85), ("in-scope >= 0.70", 0.70)):
        threshold, point = choose_none_threshold(fit, min_in_scope_accuracy=target)
        held = abstention_curve(test, [threshold])
        result[rule] = {"threshold": threshold, "fit_point": point, "heldout": {k: v[0] for k, v in held.items()}}
    curve = abstention_curve(test)
    ok = [r for a, r in zip(curve["in_scope_accuracy"], curve["none_recall"], strict=True) if a >= 0.85]
    result["heldout_best_none_recall_at_in_scope_0.85"] = max(ok, default=None)
    result["heldout_max_in_scope_accuracy"] = max(curve["in_scope_accuracy"])
    conf, right = [t.confidence for t in test], [t.proposed == t.gold for t in test]
    result["heldout_ece_top_answer"] = expected_calibration_error(conf, right)
    label = "MiniLM" + (f" + rerank {args.rerank}" if args.rerank else "")
    plot_reliability(conf, right, out / "clinc_reliability.png", title=f"{label} similarity, clinc_dev[1::2]")
    plot_abstention(
        curve,
        out / "clinc_abstention.png",
        title=f"{label}, clinc_dev[1::2]",
        chosen=result["max accuracy"]["threshold"],
    )
    (out / "clinc_fast.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
