"""`task-router train`: fine-tune a LoRA / QLoRA adapter for the scoring router on benchmark-format data."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from task_router.cli import app


@app.command("train")
def train_command(
    data: Annotated[
        list[Path], typer.Option("--data", "-d", help="Benchmark-format data (.jsonl/.jsonl.gz); repeatable.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Adapter folder to write (use it as qlora:<folder>).")],
    base: Annotated[
        str, typer.Option("--base", help="Base model: embedded, hf:<dir> or a local model folder.")
    ] = "embedded",
    max_steps: Annotated[int, typer.Option("--max-steps", help="Stop after N steps (-1: --epochs).")] = -1,
    epochs: Annotated[float, typer.Option("--epochs", help="Passes over the (augmented) data.")] = 1.0,
    max_minutes: Annotated[
        float | None, typer.Option("--max-minutes", help="Wall-time budget: stop and save the adapter when spent.")
    ] = None,
    lr_scheduler: Annotated[
        str, typer.Option("--lr-scheduler", help="transformers scheduler: cosine, linear, constant_with_warmup...")
    ] = "cosine",
    no_quantize: Annotated[
        bool, typer.Option("--no-quantize", help="Plain LoRA on a bf16 base (the default for the embedded model).")
    ] = False,
    quantize: Annotated[
        bool, typer.Option("--quantize", help="Force a 4-bit NF4 base (QLoRA; the default for other bases).")
    ] = False,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="First N conversations per file.")] = None,
    copies: Annotated[int, typer.Option("--copies", min=0, help="Augmented variants per conversation.")] = 1,
    keep_original: Annotated[bool, typer.Option("--keep-original", help="Also train on the unaugmented data.")] = False,
    min_tasks: Annotated[int, typer.Option("--min-tasks", min=1, help="Smallest augmented catalogue.")] = 5,
    max_tasks: Annotated[int, typer.Option("--max-tasks", min=1, help="Largest augmented catalogue.")] = 30,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 5e-4,
    warmup_steps: Annotated[int, typer.Option("--warmup-steps", min=0, help="Linear warm-up steps.")] = 10,
    lora_r: Annotated[int, typer.Option("--lora-r", min=1, help="LoRA rank.")] = 16,
    lora_layers: Annotated[
        int | None, typer.Option("--lora-layers", min=1, help="LoRA on the top N layers only (faster backward).")
    ] = None,
    grad_accum: Annotated[int, typer.Option("--grad-accum", min=1, help="Sequences per optimizer step.")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Seed of augmentation, LoRA init and data order.")] = 0,
    save_steps: Annotated[int, typer.Option("--save-steps", min=1, help="Checkpoint every N steps.")] = 50,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoints.")] = False,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="torch CPU threads.")] = None,
) -> None:
    """Fine-tune a model to route: loss only on the scoring router's answers, one packed sequence per conversation.

    Example: task-router train --data ../shared/benchmarks/sgd_train.jsonl.gz --out adapters/sgd --max-steps 200
    """
    from task_router.training import AugmentConfig, TrainConfig
    from task_router.training.trainer import train

    if quantize and no_quantize:
        raise typer.BadParameter("give either --quantize or --no-quantize, not both")
    try:
        augment = AugmentConfig(copies=copies, keep_original=keep_original, min_tasks=min_tasks, max_tasks=max_tasks)
        config = TrainConfig(
            data=[str(p) for p in data],
            out=str(out),
            base=base,
            quantize=True if quantize else False if no_quantize else None,
            max_steps=max_steps,
            epochs=epochs,
            max_minutes=max_minutes,
            lr_scheduler=lr_scheduler,
            limit=limit,
            learning_rate=lr,
            warmup_steps=warmup_steps,
            lora_r=lora_r,
            lora_alpha=2 * lora_r,
            lora_layers=lora_layers,
            grad_accum=grad_accum,
            augment=augment,
            seed=seed,
            save_steps=save_steps,
            resume=resume,
            threads=threads,
        )
        train(config, command=shlex.join(["task-router", *sys.argv[1:]]), console=Console())
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
