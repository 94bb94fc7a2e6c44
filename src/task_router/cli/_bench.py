"""`task-router bench`: naive generate vs the optimized scoring path, per catalogue size and conversation length."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from task_router.cli._base import app
from task_router.cli._options import RUNS_DIR, check_output


@app.command()
def bench(
    out: Annotated[Path, typer.Option("--out", help="Folder for bench.json and bench.md.")] = RUNS_DIR / "bench",
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="Only 10 tasks x 8 turns: measured 11 s, 28 s on the first run (which converts the embedded "
            "model), 1 torch thread on a 2-core CPU.",
        ),
    ] = False,
    model: Annotated[str, typer.Option("--model", "-m", help="Local model spec: embedded, hf:<dir>, qlora:<dir>.")] = (
        "embedded"
    ),
    conversations: Annotated[int, typer.Option(help="Synthetic conversations per cell (optimized path).")] = 3,
    naive_samples: Annotated[int, typer.Option(help="Decisions per cell timed with naive generate.")] = 8,
    threads: Annotated[int | None, typer.Option(help="torch intra-op threads (default: one per core).")] = None,
    prefill: Annotated[
        bool,
        typer.Option(
            "--prefill/--no-prefill",
            help="Add each assistant reply to the thread's cache before the next turn, as the graph does (timed "
            "apart); --no-prefill makes every decision run the reply too.",
        ),
    ] = True,
) -> None:
    """Time one decision of the default router (30 tasks), then routing with the local model: greedy `generate` on
    the full prompt vs cached one-pass scoring, same prompts. Tables name the CPU and the dtype models load in.

    Example: task-router bench --quick --out /tmp/bench
    """
    from rich.console import Console
    from rich.table import Table

    from task_router._inference.benchmark import (
        FULL_GRID,
        QUICK_GRID,
        conditions,
        markdown_table,
        rows_as_dicts,
        run_bench,
        speedups,
        time_router,
    )
    from task_router.routers import make_router
    from task_router.routers._scoring import ScoringRouter

    check_output(out, "--out")
    console = Console(stderr=True)
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    try:
        router = ScoringRouter(model)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--model") from None
    if quick:
        conversations, naive_samples = min(conversations, 2), min(naive_samples, 4)
    setup = conditions()
    default = time_router(make_router(), conversations=conversations)
    first = Table(title=f"default router ({default.router}), one decision, on {setup['cpu']}")
    for column in ("tasks", "p50 / p95 ms", "decisions", "peak RSS MiB"):
        first.add_column(column, justify="right")
    latency = f"{default.p50_ms:.1f} / {default.p95_ms:.1f}"
    first.add_row(str(default.tasks), latency, str(default.n), f"{default.peak_rss_mb:.0f}")
    Console().print(first)
    rows = run_bench(
        router,
        grid=QUICK_GRID if quick else FULL_GRID,
        conversations=conversations,
        naive_samples=naive_samples,
        model_label=model,
        prefill=prefill,
        log=lambda line: console.log(line),
    )
    ratio = speedups(rows)
    table = Table(title=f"task-router bench ({model}, scoring router)")
    for column in ("tasks", "turns", "naive p50/p95 ms", "optimized p50/p95 ms", "speed-up", "peak RSS MiB"):
        table.add_column(column, justify="right")
    by_key = {(r.tasks, r.turns, r.path): r for r in rows}
    for tasks, turns in sorted(ratio):
        n, o = by_key[(tasks, turns, "naive")], by_key[(tasks, turns, "optimized")]
        table.add_row(
            str(tasks),
            str(turns),
            f"{n.p50_ms:.0f} / {n.p95_ms:.0f} (n={n.n})",
            f"{o.p50_ms:.0f} / {o.p95_ms:.0f} (n={o.n})",
            f"{ratio[(tasks, turns)]:.1f}x",
            f"{n.peak_rss_mb:.0f} / {o.peak_rss_mb:.0f}",
        )
    Console().print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(rows_as_dicts(rows), indent=2) + "\n", encoding="utf-8")
    command = "task-router " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    (out / "bench.md").write_text(
        f"Command: `{command}`\n\nConditions: {json.dumps(setup)}\n\n"
        f"Default router ({default.router}), {default.tasks} tasks: p50 {default.p50_ms:.1f} ms, p95 "
        f"{default.p95_ms:.1f} ms over {default.n} decisions.\n\n{markdown_table(rows)}\n",
        encoding="utf-8",
    )
    console.log(f"wrote {out / 'bench.json'} and {out / 'bench.md'}")
