"""Issue 9 benchmarks: shortlist recall@k, end-to-end shortlist runs, None threshold fitted on one half of
clinc_dev and reported on the other, cascade vs always-cheap vs always-strong, 150-task latency.

Run: nice -n 10 python benchmarks/large_catalogues.py --out /tmp/issue9 [--cascade-records 60]
Every figure goes to OUT/*.json (and eval folders with metrics.json / predictions.jsonl); nothing is tuned per record.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from task_router._calibration import (
    abstention_curve,
    choose_escalation,
    choose_none_threshold,
    expected_calibration_error,
    plot_abstention,
    plot_reliability,
    turns_from_predictions,
)
from task_router._router_input import coerce_input
from task_router.evaluation import evaluate_router, load_dataset
from task_router.evaluation._replay import replay
from task_router.routers import make_router
from task_router.routers._shortlist import TaskRetriever, recall_at_k

BENCH = Path("/work/shared/benchmarks")
KS = (1, 3, 5, 10, 20, 30)


def shortlist_recall(name: str, out: Path, windows: tuple[int, ...] = (0, 1, 2)) -> dict:
    records = load_dataset(BENCH / f"{name}.jsonl.gz")
    result: dict = {}
    for window in windows:
        retriever = TaskRetriever(window=window)
        ranked, gold = [], []
        for record in records:
            catalog = record.catalog()
            for label in record.labels:
                routing = coerce_input({"messages": record.messages_until(label.turn_index), "catalog": catalog})
                ranked.append(retriever.rank(routing))
                gold.append(label.task)
        result[f"window={window}"] = recall_at_k(ranked, gold, KS)
        print(name, window, result[f"window={window}"], flush=True)
    (out / f"recall_{name}.json").write_text(json.dumps(result, indent=2))
    return result


def end_to_end(name: str, out: Path, ks: tuple[int | None, ...]) -> None:
    records = load_dataset(BENCH / f"{name}.jsonl.gz")
    for k in ks:
        router = make_router("embedding", model=None, shortlist=k)
        run = evaluate_router(records, router, dataset=name, out_dir=out / f"e2e_{name}_embedding_k{k}", progress=False)
        m = run.metrics
        print(name, k, m["task_accuracy"], m["event_accuracy"], m["latency_ms"], flush=True)


def fit_clinc(out: Path) -> dict:
    """None threshold fitted on clinc_dev[0::2], reported on clinc_dev[1::2] (interleaved halves)."""
    records = load_dataset(BENCH / "clinc_dev.jsonl.gz")
    fit_part, test_part = records[::2], records[1::2]  # interleaved halves: same in/out-of-scope mix
    router = make_router("embedding", model=None, threshold=None)
    fit_turns = turns_from_predictions(replay(fit_part, router, state="gold", progress=False))
    test_turns = turns_from_predictions(replay(test_part, router, state="gold", progress=False))
    result: dict = {"fit": "clinc_dev[0::2]", "report": "clinc_dev[1::2]"}
    for rule, target in (("max accuracy", None), ("in-scope >= 0.85", 0.85), ("in-scope >= 0.70", 0.70)):
        threshold, point = choose_none_threshold(fit_turns, min_in_scope_accuracy=target)
        held = abstention_curve(test_turns, [threshold])
        result[rule] = {"threshold": threshold, "fit_point": point, "heldout": {k: v[0] for k, v in held.items()}}
        print(rule, result[rule], flush=True)
    curve = abstention_curve(test_turns)
    result["heldout_best_oos_recall_at_in_scope_0.85"] = max(
        [r for a, r in zip(curve["in_scope_accuracy"], curve["none_recall"], strict=True) if a >= 0.85], default=None
    )
    result["heldout_max_in_scope_accuracy"] = max(curve["in_scope_accuracy"])
    conf = [t.confidence for t in test_turns]
    right = [t.proposed == t.gold for t in test_turns]
    result["heldout_ece_top_answer"] = expected_calibration_error(conf, right)
    plot_reliability(conf, right, out / "clinc_reliability.png", title="embedding on clinc_dev[1::2]")
    plot_abstention(
        curve,
        out / "clinc_abstention.png",
        title="embedding, clinc_dev[1::2]",
        chosen=result["max accuracy"]["threshold"],
    )
    (out / "fit_clinc.json").write_text(json.dumps(result, indent=2))
    return result


def latency_150(out: Path, k: int, n: int = 200, n_llm: int = 30, model: str = "embedded") -> dict:
    """Decision latency on the 150-task catalogue: the embedding router with and without the shortlist, with the
    shortlist and the local reranker (its task blocks prefilled first, as a server would at start-up), and the
    local `scoring` router over the shortlist (first ``n_llm`` records: each single turn brings a new top-k
    sub-catalogue, whose prompt prefix and calibration prior are built for that decision)."""
    records = load_dataset(BENCH / "clinc_dev.jsonl.gz")[:n]
    catalog = records[0].catalog()
    result = {}
    setups = (
        ("embedding", None, records, {}),
        ("embedding", k, records, {}),
        ("embedding", k, records, {"rerank": model}),
        ("scoring", k, records[:n_llm], {}),
    )
    for kind, shortlist, part, options in setups:
        router = make_router(kind, model=None if kind == "embedding" else model, shortlist=shortlist, **options)
        if options:
            router.router.reranker.warm(catalog)
        router.invoke({"messages": ["warm up"], "catalog": catalog})
        times = [router.invoke({"messages": r.messages_until(0), "catalog": catalog}).latency_ms for r in part]
        key = f"{kind} shortlist={shortlist}" + "".join(f" {name}={value}" for name, value in options.items())
        result[key] = {"p50": float(np.median(times)), "p95": float(np.percentile(times, 95)), "n": len(times)}
        print("latency", key, result[key], flush=True)
    (out / "latency_150.json").write_text(json.dumps(result, indent=2))
    return result


def cascade(
    out: Path, n_records: int, k: int, strong_kind: str = "scoring", model: str = "embedded", rerank: bool = False
) -> dict:
    """Cascade (embedding -> local scoring over the shortlist, or with ``rerank`` -> the embedding router re-ranked
    by ``model``) vs always-cheap and always-strong, one run.

    Thresholds fitted on clinc_dev[0::2][:n], reported on clinc_dev[1::2][:n] (gold state, single turns)."""
    records = load_dataset(BENCH / "clinc_dev.jsonl.gz")
    fit_part, test_part = records[0::2][:n_records], records[1::2][:n_records]
    cheap = make_router("embedding", model=None, threshold=None, shortlist=k)
    if rerank:
        strong_kind = "embedding+rerank"
        strong = make_router("embedding", model=None, rerank=model, shortlist=k)
    else:
        strong = make_router(strong_kind, model=model, shortlist=k)
    parts = {}
    for tag, part in (("fit", fit_part), ("test", test_part)):
        t0 = time.perf_counter()
        c = replay(part, cheap, state="gold", progress=False)
        s = replay(part, strong, state="gold", progress=False)
        parts[tag] = (c, s)
        print(tag, "replayed in", round(time.perf_counter() - t0), "s", flush=True)
    fc, fs = parts["fit"]
    none, escalate, point = choose_escalation(turns_from_predictions(fc), [p.task for p in fs])
    tc, ts = parts["test"]
    turns = turns_from_predictions(tc)
    conf = np.array([t.confidence for t in turns])
    up = (conf >= none) & (conf < escalate)
    gold = np.array([t.gold for t in turns])
    cheap_named = np.array([t.proposed if t.confidence >= none else "NONE" for t in turns])
    strong_named = np.array([p.task for p in ts])
    named = np.where(up, strong_named, cheap_named)
    lat_c = np.array([p.latency_ms for p in tc])
    lat_s = np.array([p.latency_ms for p in ts])
    lat_cascade = lat_c + np.where(up, lat_s, 0.0)  # the cascade runs the cheap stage, then the strong one if unsure
    ins = gold != "NONE"

    def summary(pred: np.ndarray, lat: np.ndarray) -> dict:
        right = pred == gold
        return {
            "accuracy": float(right.mean()),
            "in_scope_accuracy": float(right[ins].mean()),
            "none_recall": float(right[~ins].mean()) if (~ins).any() else None,
            "p50_ms": float(np.median(lat)),
            "mean_ms": float(lat.mean()),
        }

    result = {
        "fit": f"clinc_dev[0::2][:{n_records}]",
        "report": f"clinc_dev[1::2][:{n_records}]",
        "shortlist": k,
        "strong": f"{strong_kind}:{model}",
        "thresholds": {"none": none, "escalate": escalate, "fit_point": point},
        "always_cheap": summary(cheap_named, lat_c),
        "always_strong": summary(strong_named, lat_s),
        "cascade": {**summary(named, lat_cascade), "escalated": float(up.mean())},
    }
    print(json.dumps(result, indent=2), flush=True)
    tag = "" if model == "embedded" else "_" + "".join(c if c.isalnum() else "-" for c in model)
    tag += "_rerank" if rerank else ""
    (out / f"cascade_clinc{tag}.json").write_text(json.dumps(result, indent=2))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/issue9"))
    parser.add_argument("--steps", default="recall,fit,e2e,latency,cascade")
    parser.add_argument("--cascade-records", type=int, default=60)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--strong-model", default="embedded", help="model of the cascade's strong `scoring` stage")
    parser.add_argument("--strong-rerank", action="store_true", help="strong stage: embedding re-ranked by the model")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    steps = args.steps.split(",")
    if "recall" in steps:
        shortlist_recall("clinc_dev", args.out, windows=(0,))
        shortlist_recall("sgd_dev", args.out)
    if "fit" in steps:
        fit_clinc(args.out)
    if "e2e" in steps:
        end_to_end("clinc_dev", args.out, (None, args.k))
        end_to_end("sgd_dev", args.out, (None, args.k))
    if "latency" in steps:
        latency_150(args.out, args.k)
    if "cascade" in steps:
        cascade(args.out, args.cascade_records, args.k, model=args.strong_model, rerank=args.strong_rerank)


if __name__ == "__main__":
    main()
