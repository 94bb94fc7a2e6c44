"""The commands that make data: `task-router data`, `generate` and `review`.

- `task-router data`: build the benchmark files from the public SGD and CLINC150 releases.
- `task-router generate`: synthetic training conversations from a chat model and prompts/generator.yaml.
- `task-router review`: review training conversations in the terminal (confirm, back, change label, flag, delete).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, JustifyMethod
from rich.table import Table

from task_router.cli._base import RUNS_DIR, BaseUrlOpt, CatalogOpt, ModelOpt, app, check_output, load_catalog


@app.command("data")
def data_command(
    sgd: Annotated[
        Path | None,
        typer.Option(
            "--sgd",
            help="Clone of google-research-datasets/dstc8-schema-guided-dialogue (the folder holding train/, dev/, "
            "test/): writes sgd_train, sgd_dev, sgd_test.",
        ),
    ] = None,
    clinc: Annotated[
        Path | None,
        typer.Option(
            "--clinc",
            help="CLINC150's data_full.json from clinc/oos-eval (or its data/ folder): writes clinc_dev, clinc_test.",
        ),
    ] = None,
    domains: Annotated[
        Path | None,
        typer.Option(
            "--domains",
            help="CLINC150's domains.json (default: the one next to data_full.json, if any; without it the task "
            "descriptions omit the domain).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the .jsonl.gz files.")] = RUNS_DIR / "benchmarks",
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="SGD conversations per dev and test split (sampled).")
    ] = 200,
    train_limit: Annotated[int, typer.Option("--train-limit", min=1, help="SGD training conversations.")] = 3000,
    clinc_in_scope: Annotated[
        int, typer.Option("--clinc-in-scope", min=1, help="CLINC150 in-scope utterances per split.")
    ] = 500,
    clinc_oos: Annotated[
        int, typer.Option("--clinc-oos", min=1, help="CLINC150 out-of-scope utterances per split.")
    ] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Seed of every sample, catalogue and digression.")] = 0,
) -> None:
    """Build the routing benchmarks from the public releases (both given: the digression files too).

    The defaults give the sizes of the shared benchmark files; a smaller release gives all it has.

    Example: task-router data --sgd dstc8-schema-guided-dialogue --clinc oos-eval/data/data_full.json --out data
    """
    from task_router.datasets import Sizes, SourceError, build_benchmarks
    from task_router.datasets._clinc import find_data_full, find_domains

    if sgd is None and clinc is None:
        raise typer.BadParameter(
            "give --sgd FOLDER (a clone of google-research-datasets/dstc8-schema-guided-dialogue) and/or --clinc "
            "FILE (data_full.json of clinc/oos-eval); both give the digression files too"
        )
    check_output(out, "--out")
    console = Console()
    try:
        if clinc is not None and domains is None:
            domains = find_domains(find_data_full(clinc))
        sizes = Sizes(
            sgd_train=train_limit, sgd_eval=limit, clinc_in_scope=clinc_in_scope, clinc_out_of_scope=clinc_oos
        )
        built = build_benchmarks(out, sgd_folder=sgd, clinc_file=clinc, domains_file=domains, sizes=sizes, seed=seed)
    except SourceError as exc:
        raise typer.BadParameter(str(exc), param_hint=_option_of(str(exc))) from None
    table = Table(title=f"task-router data (seed {seed})")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("file", "left"),
        ("records", "right"),
        ("labelled turns", "right"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for file in built:
        table.add_row(str(file.path), str(file.records), str(file.labelled_turns))
    console.print(table)
    if clinc is not None and domains is None:
        console.print("[yellow]no domains.json next to data_full.json (see --domains): descriptions lack the domain[/]")


def _option_of(message: str) -> str:
    """The option whose input an error message is about (each names its file: "SGD ...", "CLINC150 ...")."""
    if "CLINC150 domains file" in message:
        return "--domains"
    return "--clinc" if "CLINC150" in message else "--sgd"


@app.command("generate")
def generate_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Benchmark-format .jsonl file to write.")],
    n: Annotated[int, typer.Option("--n", min=1, help="Conversations to generate.")] = 20,
    catalog: CatalogOpt = None,
    model: ModelOpt = "embedded",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the scenario plan.")] = 0,
    base_url: BaseUrlOpt = None,
) -> None:
    """Generate labelled conversations over a catalogue (review them with `task-router review` before training).

    Example: task-router generate --model openai:gpt-4o-mini --catalog tasks.yaml --n 50 --out synthetic.jsonl
    """
    from task_router.models import load_chat_model
    from task_router.training._data import GenerationReport, generate_records, write_records

    console = Console()
    tasks = load_catalog(catalog)  # bad input fails before a model is loaded
    check_output(out, "--out", folder=False)
    chat = load_chat_model(model, base_url=base_url)
    report = GenerationReport()
    written = write_records(generate_records(chat, tasks, n, seed=seed, report=report), out)
    console.print(f"{written} conversations written to {out}; {report.failed} rejected")
    for error in report.errors[:10]:
        console.print(f"  [yellow]{error}[/]")


@app.command("review")
def review_command(
    data: Annotated[Path, typer.Argument(help="Benchmark-format file to review (.jsonl / .jsonl.gz).")],
    state: Annotated[
        Path | None, typer.Option("--state", help="Progress file (default: <data>.review.json); resumed if it exists.")
    ] = None,
    export: Annotated[
        Path | None, typer.Option("--export", help="Write the reviewed data to this file instead of opening the UI.")
    ] = None,
    include_flagged: Annotated[bool, typer.Option("--include-flagged", help="Export flagged ones too.")] = False,
) -> None:
    """Review generated conversations one by one; progress is saved after every action.

    Example: task-router review generated.jsonl   then   task-router review generated.jsonl --export reviewed.jsonl
    """
    from task_router.training._review import ReviewSession

    check_output(export, "--export", folder=False)

    try:
        session = ReviewSession(data, state)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if export is not None:
        count = session.export(export, include_flagged=include_flagged)
        Console().print(f"{count} conversations written to {export} ({session.counts()})")
        return
    from task_router.training._review_app import ReviewApp

    ReviewApp(session).run()
