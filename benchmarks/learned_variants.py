"""The learned router's alternatives on the same sets, one `task-router eval` run each: the bi-encoder alone, and the
bi-encoder + cross-encoder over shortlists of several sizes. Prints RESULTS.md rows; writes each run's files.

    python benchmarks/learned_variants.py --out runs/learned_variants
    python benchmarks/learned_variants.py --model models/learned --datasets sgd_dev --shortlists 2,4

Each run replays the conversations with the router's own decisions as the active task (as `task-router eval` does);
metrics.json has the seen / unseen services split for SGD.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from task_router._learned.router import LearnedRouter
from task_router.evaluation import evaluate_router, load_dataset
from task_router.evaluation._report import RESULTS_HEADER, results_row

BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="a folder from `task-router train --router learned` (default: builtin)"
    )
    parser.add_argument("--datasets", default="sgd_dev,clinc_dev")
    parser.add_argument("--shortlists", default="4", help="cross-encoder shortlist sizes, comma-separated")
    parser.add_argument("--no-bi-only", action="store_true", help="skip the bi-encoder-only run")
    parser.add_argument("--out", type=Path, default=Path("runs/learned_variants"))
    args = parser.parse_args()
    variants: list[tuple[str, dict]] = [] if args.no_bi_only else [("bi", {"cross_encoder": False})]
    variants += [(f"ce{k}", {"shortlist": int(k)}) for k in args.shortlists.split(",") if k]
    rows = []
    for name in args.datasets.split(","):
        path = BENCHMARKS / f"{name}.jsonl.gz"
        records = load_dataset(path)
        for label, options in variants:
            router = LearnedRouter(model_path=args.model, **options)
            run = evaluate_router(
                records, router, dataset=str(path), out_dir=args.out / f"{name}-{label}", progress=False
            )
            cells = results_row(run.metrics).split(" | ")
            cells[2] = f"learned ({label})"
            model = f" --model {args.model}" if args.model else ""
            cells[-1] = f"`python benchmarks/learned_variants.py --datasets {name}{model}` ({label}) |"
            row = " | ".join(cells)
            rows.append(row)
            print(row, flush=True)
    print("\n".join([RESULTS_HEADER, *rows]))


if __name__ == "__main__":
    main()
