"""The tuned local LLM against the tuned encoder and the untrained baselines, on the same sets, in one table.

    python benchmarks/llm_vs_encoder.py --llm qlora:runs/qlora-shortlist --out runs/llm_vs_encoder
    python benchmarks/llm_vs_encoder.py --llm embedded --llm qlora:builtin --datasets sgd_dev --limit 50

Rows: `embedding` (untrained MiniLM + hand-set rules), `learned` (the shipped trained bi-encoder), and for each
``--llm`` spec the `scoring` router (every allowed answer scored by the local LLM's likelihood) over the learned
bi-encoder's shortlist of ``--shortlist`` tasks (plus the active task), so that the LLM answers the same question
the encoder does, over the same candidates. Every run replays conversations with the router's own decisions
(`task-router eval`'s default); prints RESULTS.md rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from task_router._learned.router import LearnedRouter
from task_router.evaluation import evaluate_router, load_dataset
from task_router.evaluation._report import RESULTS_HEADER, results_row
from task_router.routers import make_router
from task_router.routers._shortlist import Shortlist

BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", action="append", default=[], help="local model spec for the scoring router")
    parser.add_argument("--datasets", default="sgd_dev,clinc_dev")
    parser.add_argument("--shortlist", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="first N conversations of each set")
    parser.add_argument("--skip-baselines", action="store_true", help="only the --llm rows")
    parser.add_argument("--out", type=Path, default=Path("runs/llm_vs_encoder"))
    args = parser.parse_args()
    learned = LearnedRouter()
    routers = [] if args.skip_baselines else [("embedding", make_router("embedding", model=None)), ("learned", learned)]
    for spec in args.llm:
        scoring = make_router("scoring", model=spec)
        routers.append((f"scoring {spec}", Shortlist(scoring, k=args.shortlist, retriever=learned)))
    rows = []
    for name in args.datasets.split(","):
        path = BENCHMARKS / f"{name}.jsonl.gz"
        records = load_dataset(path, limit=args.limit)
        for label, router in routers:
            folder = args.out / f"{name}-{label.replace(':', '_').replace('/', '_').replace(' ', '_')}"
            run = evaluate_router(records, router, dataset=str(path), out_dir=folder, progress=False)
            cells = results_row(run.metrics).split(" | ")
            if isinstance(router, Shortlist):
                cells[2] = f"scoring over learned shortlist {args.shortlist}"
            limit = f" --limit {args.limit}" if args.limit else ""
            cells[-1] = f"`python benchmarks/llm_vs_encoder.py --datasets {name}{limit}` ({label}) |"
            rows.append(" | ".join(cells))
            print(rows[-1], flush=True)
    print("\n".join([RESULTS_HEADER, *rows]))


if __name__ == "__main__":
    main()
