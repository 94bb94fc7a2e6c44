"""Local routers per backend and dtype: one decision's p50 and the agreement of its decisions with torch float32, on
sgd_dev and clinc_dev (issue 25, item 0: the dtype and backend chosen by what the CPU does).

    python benchmarks/cpu_dtype.py                       # learned (torch fp32/bf16, onnx, onnx-int8) and embedding
    python benchmarks/cpu_dtype.py --router learned --config onnx --threads 2   # one configuration, 2 threads
    python benchmarks/cpu_dtype.py --isa avx2            # the same with torch and oneDNN held to AVX2

Every configuration runs in its own process: ``TASK_ROUTER_BACKEND`` picks what runs the encoder (torch, or ONNX
Runtime in fp32 or dynamic int8), ``TASK_ROUTER_DTYPE`` the dtype torch models load in, and
``--isa avx2`` sets ``ATEN_CPU_CAPABILITY=avx2`` and ``ONEDNN_MAX_CPU_ISA=AVX2`` so that torch uses neither
AVX-512 nor its bf16 instructions on this CPU (an emulation of an AVX2-only CPU, not one: the caches and clock
are this CPU's). Turns are replayed with the gold active task, so every turn is the same question in every
configuration; agreement is the share of turns with the same (event, task) as float32. Prints a table, writes
``cpu_dtype.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"
SETS = ("sgd_dev", "clinc_dev")
ISA_ENV = {"avx2": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}}

CHILD = """
import json, sys
from task_router.evaluation import load_dataset
from task_router.evaluation._replay import replay
from task_router.models._cpu import cpu_description
from task_router.routers import make_router
kind, path = sys.argv[1], sys.argv[2]
router = make_router(kind, model=None) if kind == "embedding" else make_router(kind)
predictions = replay(load_dataset(path), router, state="gold", progress=False)
print(json.dumps({"cpu": cpu_description(),
                  "decisions": [[p.event, p.task] for p in predictions],
                  "latency_ms": [p.latency_ms for p in predictions]}))
"""


CONFIGS = {
    "learned": ("torch:float32", "torch:bfloat16", "onnx", "onnx-int8"),
    "embedding": ("torch:float32", "onnx"),  # torch runs it in fp32 on every CPU
}


def run(kind: str, dataset: Path, config: str, isa: str | None, threads: int) -> dict:
    backend, _, dtype = config.partition(":")
    env = {
        **os.environ,
        "TASK_ROUTER_BACKEND": backend,
        "TASK_ROUTER_DTYPE": dtype or "float32",
        "TASK_ROUTER_ENCODER_THREADS": str(threads),
        **ISA_ENV.get(isa or "", {}),
    }
    done = subprocess.run(
        [sys.executable, "-c", CHILD, kind, str(dataset)], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"{kind} {config} on {dataset.name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", action="append", default=[], help="learned, embedding (repeatable)")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        help="backend[:dtype], e.g. torch:bfloat16, onnx, onnx-int8 (repeatable)",
    )
    parser.add_argument("--threads", type=int, default=1, help="encoder threads (TASK_ROUTER_ENCODER_THREADS)")
    parser.add_argument("--isa", choices=sorted(ISA_ENV), default=None)
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--out", type=Path, default=Path("runs/cpu_dtype"))
    args = parser.parse_args()
    rows = []
    for kind in args.router or ["learned", "embedding"]:
        for name in SETS:
            dataset = args.datasets / f"{name}.jsonl.gz"
            reference = run(kind, dataset, "torch:float32", args.isa, args.threads)
            for config in args.config or CONFIGS[kind]:
                result = reference if config == "torch:float32" else run(kind, dataset, config, args.isa, args.threads)
                same = sum(a == b for a, b in zip(result["decisions"], reference["decisions"], strict=True))
                rows.append(
                    {
                        "router": kind,
                        "dataset": name,
                        "config": config,
                        "threads": args.threads,
                        "isa": args.isa or "native",
                        "cpu": result["cpu"],
                        "turns": len(result["decisions"]),
                        "p50_ms": round(statistics.median(result["latency_ms"]), 1),
                        "agreement_with_fp32": round(same / len(reference["decisions"]), 4),
                    }
                )
                row = rows[-1]
                print(
                    f"{kind:9} {name:9} {config:14} {row['isa']:6} p50 {row['p50_ms']:6.1f} ms  "
                    f"agreement {row['agreement_with_fp32']:.4f} ({row['turns']} turns)",
                    flush=True,
                )
    print(f"\nCPU: {rows[0]['cpu']}; encoder threads {args.threads}; load at end: {os.getloadavg()[0]:.2f}")
    print("| router | set | backend:dtype | ISA | p50 ms | agreement with torch fp32 |\n|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['router']} | {row['dataset']} | {row['config']} | {row['isa']} | {row['p50_ms']} | "
            f"{row['agreement_with_fp32']:.4f} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"cpu_dtype_{args.isa or 'native'}_{args.threads}t.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
