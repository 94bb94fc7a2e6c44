"""`task-router eval`: replay a benchmark through a router, write metrics.json / report.md / PNGs, compare runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from task_router.cli._base import app
from task_router.cli._options import (
    RUNS_DIR,
    BaseUrlOpt,
    ModelOpt,
    RerankOpt,
    RouterOpt,
    ThresholdsOpt,
    build_router,
    check_output,
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
