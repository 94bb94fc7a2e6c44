"""`task-router generate`: synthetic training conversations from a chat model and prompts/generator.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from task_router.cli._base import app
from task_router.cli._options import BaseUrlOpt, CatalogOpt, ModelOpt, check_output, load_catalog


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
    from task_router.training._synthetic import GenerationReport, generate_records, write_records

    console = Console()
    tasks = load_catalog(catalog)  # bad input fails before a model is loaded
    check_output(out, "--out", folder=False)
    chat = load_chat_model(model, base_url=base_url)
    report = GenerationReport()
    written = write_records(generate_records(chat, tasks, n, seed=seed, report=report), out)
    console.print(f"{written} conversations written to {out}; {report.failed} rejected")
    for error in report.errors[:10]:
        console.print(f"  [yellow]{error}[/]")
