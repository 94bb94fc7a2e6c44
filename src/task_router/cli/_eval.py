"""The commands that run a router: `task-router route` (one decision), `eval` and `bench`.

- `task-router route`: one routing decision for a conversation file, printed as JSON.
- `task-router eval`: replay a benchmark through a router, write metrics.json / report.md / PNGs, compare runs.
- `task-router bench`: naive generate vs the optimized scoring path, per catalogue size and conversation length.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from task_router.cli._base import (
    RUNS_DIR,
    BaseUrlOpt,
    CatalogOpt,
    ModelOpt,
    RerankOpt,
    RouterOpt,
    ThresholdsOpt,
    app,
    build_router,
    check_output,
    load_catalog,
    load_conversation,
)


@app.command("eval")
def eval_command(
    dataset: Annotated[
        Path | None,
        typer.Option("--dataset", "-d", help="Benchmark file (.jsonl or .jsonl.gz), one conversation a line."),
    ] = None,
    model: ModelOpt = "embedded",
    router: RouterOpt = None,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Evaluate the first N conversations.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (default: runs/eval/<dataset>-<router>-<model>).")
    ] = None,
    gold_state: Annotated[
        bool, typer.Option("--gold-state", help="Give the router the gold active task (default: its own decisions).")
    ] = False,
    langsmith: Annotated[
        bool,
        typer.Option(
            "--langsmith",
            help="Run langsmith.evaluate and upload the experiment (needs LANGSMITH_API_KEY). LangSmith sees one "
            "turn per example, so this evaluates with the gold active task.",
        ),
    ] = False,
    base_url: BaseUrlOpt = None,
    shortlist: Annotated[
        int | None,
        typer.Option("--shortlist", min=1, help="Show the router only the K tasks most similar to the conversation."),
    ] = None,
    rerank: RerankOpt = None,
    thresholds: ThresholdsOpt = None,
    compare: Annotated[
        bool, typer.Option("--compare", help="Print the runs in the given folders side by side, evaluate nothing.")
    ] = False,
    markdown: Annotated[
        bool, typer.Option("--markdown", help="With --compare: print benchmarks/RESULTS.md table rows instead.")
    ] = False,
    run_dirs: Annotated[
        list[Path] | None, typer.Argument(help="With --compare: output folders of earlier runs.")
    ] = None,
) -> None:
    """Evaluate routing on a benchmark, turn by turn.

    Example: task-router eval --dataset ../shared/benchmarks/sgd_dev.jsonl.gz --limit 20 --out /tmp/e
    """
    from task_router.evaluation import DatasetError, compare_table, evaluate_router, load_dataset, load_metrics
    from task_router.evaluation._report import RESULTS_HEADER, results_row

    console = Console()
    if compare:
        if not run_dirs:
            raise typer.BadParameter("give the output folders of earlier runs: --compare DIR1 DIR2 ...")
        try:
            runs = [load_metrics(path) for path in run_dirs]
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        if markdown:
            typer.echo("\n".join([RESULTS_HEADER, *(results_row(run) for run in runs)]))
        else:
            console.print(compare_table(runs, [str(path) for path in run_dirs]))
        return
    if run_dirs:
        raise typer.BadParameter(f"unexpected arguments {[str(p) for p in run_dirs]}: folders go with --compare")
    if dataset is None:
        raise typer.BadParameter("give a benchmark file with --dataset PATH (or compare runs with --compare DIR ...)")
    if langsmith:
        from task_router.evaluation._langsmith_run import LangSmithConfigError, upload_client

        try:
            upload_client()  # fail before loading any model
        except LangSmithConfigError as exc:
            raise typer.BadParameter(str(exc), param_hint="--langsmith") from None
        if not gold_state:
            console.print("[yellow]--langsmith evaluates each turn on its own: using the gold active task.[/]")
            gold_state = True
    check_output(out, "--out")
    try:
        records = load_dataset(dataset, limit=limit)
    except DatasetError as exc:
        raise typer.BadParameter(str(exc), param_hint="--dataset") from None
    options: dict[str, Any] = {"shortlist": shortlist, "rerank": rerank, "thresholds": thresholds}
    decider = build_router(router, model, base_url, **{key: value for key, value in options.items() if value})
    out_dir = out or RUNS_DIR / "eval" / _slug(f"{dataset.name.split('.')[0]}-{decider.kind}-{decider.model_label}")
    run = evaluate_router(
        records,
        decider,
        dataset=str(dataset),
        state="gold" if gold_state else "own",
        out_dir=out_dir,
        langsmith=langsmith,
        thresholds=str(thresholds) if thresholds is not None else None,
    )
    console.print(compare_table([run.metrics], [f"{decider.kind} ({run.metrics['state']} state)"]))
    console.print(f"wrote {', '.join(str(path) for path in run.files)}")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


@app.command()
def route(
    conversation: Annotated[
        Path,
        typer.Option("--conversation", help="JSON: a list of messages, or {'messages': [...], 'active_task': ...}."),
    ],
    catalog: CatalogOpt = None,
    model: ModelOpt = "embedded",
    router: RouterOpt = None,
    base_url: BaseUrlOpt = None,
    rerank: RerankOpt = None,
    thresholds: ThresholdsOpt = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also print the start-up time (model load, warm-up) to stderr.")
    ] = False,
) -> None:
    """Route the latest user turn of a conversation and print the decision as JSON.

    ``latency_ms`` is the decision's own time: loading the model and embedding the catalogue happen before it
    (``--verbose`` prints how long that took)."""
    from task_router._budget import call_within
    from task_router.routers._fallbacks import make_reliable

    tasks = load_catalog(catalog)
    messages, active = load_conversation(conversation, tasks)  # validated before any model loads
    started = time.perf_counter()
    decider = build_router(
        router,
        model,
        base_url,
        rerank=rerank,
        thresholds=thresholds,
        catalog=catalog,
        warn=lambda m: typer.echo(m, err=True),
    )
    call_within(decider.warm, tasks, timeout=None)  # on the decisions' thread, like every torch call
    if verbose:
        typer.echo(f"start-up: {time.perf_counter() - started:.2f} s ({decider.name}, {decider.model_label})", err=True)
    try:
        # As in the graph: a failing model falls back (retries, the embedding router, keep the active task).
        decision = make_reliable(decider).invoke({"messages": messages, "active_task": active, "catalog": tasks})
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--conversation") from None
    typer.echo(decision.model_dump_json(indent=2))


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
