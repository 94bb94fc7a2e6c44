"""Metrics of an earlier `task-router eval` run restricted to its first N conversations.

An own-state replay decides each conversation on its own (its thread's cache and active task), so the first N
conversations of a full run are the decisions a `--limit N` run gives (up to bf16 rounding in a near-tie, as for
any cached vs uncached decision): this compares runs of different limits without paying for the larger one twice.

    python benchmarks/subset_metrics.py RUN_DIR --limit 50 --out SUBSET_DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from task_router.evaluation._metrics import TurnResult
from task_router.evaluation._report import build_metrics, write_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    metrics = json.loads((args.run_dir / "metrics.json").read_text())
    rows = [json.loads(line) for line in (args.run_dir / "predictions.jsonl").open()]
    kept: list[str] = []
    for row in rows:
        if row["conversation_id"] not in kept:
            kept.append(row["conversation_id"])
    kept = kept[: args.limit]
    rows = [row for row in rows if row["conversation_id"] in kept]
    fields = ("gold_event", "gold_task", "event", "task", "valid_format", "latency_ms")
    turns = [TurnResult(**{k: row[k] for k in fields}) for row in rows]
    subset = build_metrics(
        turns,
        dataset=metrics["dataset"],
        model=metrics["model"],
        router=metrics["router"],
        n_conversations=len(kept),
        state=metrics.get("state", "own"),
        shortlist=metrics.get("shortlist"),
    )
    write_run(args.out, subset, rows)
    print(json.dumps({k: subset[k] for k in ("n_conversations", "n_turns", "task_accuracy")}))


if __name__ == "__main__":
    main()
