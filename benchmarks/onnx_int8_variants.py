"""Which MatMuls of the learned router's encoder can ONNX Runtime's dynamic int8 quantize and keep its decisions?
(issue 25: p50 <= 8 ms on an AVX2 CPU with >= 99.5% of decisions identical to fp32.)

    python benchmarks/onnx_int8_variants.py [--threads 1]

Quantizes the shipped model's checked fp32 ONNX file with ``quantize_dynamic`` (int8 weights, per channel) four
ways: every MatMul (the `onnx-int8` backend), the feed-forward MatMuls only, the weight MatMuls but those of the first
and last layer, and every weight MatMul. Each variant decides every sgd_dev and clinc_dev turn with the gold active
task (task vectors embedded by the variant too); agreement is the share of turns with the same (event, task) as
fp32. Prints a table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def main() -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from task_router.evaluation import load_dataset
    from task_router.evaluation._replay import replay
    from task_router.models._cpu import cpu_description
    from task_router.models._encoders import _session_encoder
    from task_router.routers import make_router

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    args = parser.parse_args()
    router = make_router("learned", backend="onnx")
    encoder = router.model.bi_encoder
    fp32 = encoder.path
    matmuls = [n.name for n in onnx.load(str(fp32)).graph.node if n.op_type == "MatMul"]
    weights = [n for n in matmuls if not n.endswith(("/self/MatMul", "/self/MatMul_1"))]  # not Q.K nor attention.V
    ffn = [n for n in weights if "/intermediate/" in n or ("/output/" in n and "/attention/" not in n)]
    outer = [n for n in weights if "/layer.0/" in n or "/layer.5/" in n]
    groups = {
        "every MatMul": None,
        "feed-forward only": ffn,
        "weights, not layers 0 and 5": [n for n in weights if n not in outer],
        "every weight MatMul": weights,
    }
    data = {name: load_dataset(args.datasets / f"{name}.jsonl.gz") for name in ("sgd_dev", "clinc_dev")}

    def decide(path: Path) -> dict[str, tuple[list[tuple[str, str | None]], float]]:
        router.model.bi_encoder = _session_encoder(path, encoder.tokenize, args.threads)
        router._vectors.clear()  # the catalogue's vectors from this variant too
        results = {}
        for name, records in data.items():
            predictions = replay(records, router, state="gold", progress=False)
            results[name] = (
                [(p.event, p.task) for p in predictions],
                statistics.median(p.latency_ms for p in predictions),
            )
        return results

    print(f"CPU: {cpu_description()}; encoder threads: {args.threads}; load at start: {os.getloadavg()[0]:.2f}")
    print(
        "| variant | quantized MatMuls | sgd_dev p50 ms | sgd_dev agreement | clinc_dev p50 ms | clinc_dev agreement |"
    )
    print("|---|---|---|---|---|---|")
    base = decide(fp32)
    rows = [("fp32", 0, base)]
    with tempfile.TemporaryDirectory() as folder:
        for label, nodes in groups.items():
            out = Path(folder) / f"{len(rows)}.onnx"
            quantize_dynamic(str(fp32), str(out), op_types_to_quantize=["MatMul"], per_channel=True,
                             weight_type=QuantType.QInt8, nodes_to_quantize=nodes)  # fmt: skip
            rows.append((label, len(nodes) if nodes is not None else len(matmuls), decide(out)))
    for label, count, results in rows:
        cells = []
        for name in data:
            agreement = float(np.mean([a == b for a, b in zip(results[name][0], base[name][0], strict=True)]))
            cells += [f"{results[name][1]:.1f}", f"{agreement:.4f}"]
        print(f"| {label} | {count} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
