"""`task-router train`: fine-tune a router on benchmark-format data: the learned router's encoders
(``--router learned``) or a LoRA / QLoRA adapter for the scoring router (the default)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from task_router.cli._base import app
from task_router.cli._options import check_files, check_output


@app.command("train")
def train_command(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Folder to write: use it as qlora:<folder> (scoring) or --router learned:<folder>."
        ),
    ],
    data: Annotated[
        list[Path] | None,
        typer.Option("--data", "-d", help="Benchmark-format data (.jsonl/.jsonl.gz); repeatable."),
    ] = None,
    router: Annotated[
        str,
        typer.Option(
            "--router",
            "-r",
            help="What to train: 'scoring' (a LoRA adapter for a local LLM) or 'learned' (LoRA bi-encoder + "
            "cross-encoder on all-MiniLM-L6-v2, the fast offline router).",
        ),
    ] = "scoring",
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
    short_description_prob: Annotated[
        float, typer.Option("--short-description-prob", min=0.0, max=1.0, help="scoring: per-task first-sentence cut.")
    ] = 0.0,
    examples_prob: Annotated[
        float,
        typer.Option(
            "--examples-prob", min=0.0, max=1.0, help="scoring: share of conversations given example requests."
        ),
    ] = 0.0,
    max_tasks: Annotated[int, typer.Option("--max-tasks", min=1, help="Largest augmented catalogue.")] = 30,
    lr: Annotated[float, typer.Option("--lr", help="Learning rate.")] = 5e-4,
    warmup_steps: Annotated[int, typer.Option("--warmup-steps", min=0, help="Linear warm-up steps.")] = 10,
    lora_r: Annotated[
        int | None, typer.Option("--lora-r", min=1, help="LoRA rank (default: 16 scoring, 32 learned).")
    ] = None,
    lora_layers: Annotated[
        int | None, typer.Option("--lora-layers", min=1, help="LoRA on the top N layers only (faster backward).")
    ] = None,
    grad_accum: Annotated[int, typer.Option("--grad-accum", min=1, help="Sequences per optimizer step.")] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Seed of augmentation, LoRA init and data order.")] = 0,
    save_steps: Annotated[int, typer.Option("--save-steps", min=1, help="Checkpoint every N steps.")] = 50,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/checkpoints.")] = False,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="torch CPU threads.")] = None,
    bi_steps: Annotated[int, typer.Option("--bi-steps", min=1, help="learned: bi-encoder steps.")] = 520,
    ce_steps: Annotated[
        int, typer.Option("--ce-steps", min=0, help="learned: cross-encoder steps (default 0: bi-encoder only).")
    ] = 0,
    bi_share: Annotated[
        float, typer.Option("--bi-share", min=0.01, max=1.0, help="learned: share of --max-minutes for stage 1.")
    ] = 0.4,
    bf16: Annotated[bool, typer.Option("--bf16", help="learned: bf16 autocast (CPUs with AVX512-BF16).")] = False,
    low_memory: Annotated[
        bool,
        typer.Option("--low-memory", help="learned: return freed memory to the system (lower peak RSS, slower steps)."),
    ] = False,
    recalibrate: Annotated[
        bool,
        typer.Option(
            "--recalibrate",
            help="learned: fit the NONE scores and temperature of the trained folder --out again, on the held-out "
            "conversations its training.json names (no training).",
        ),
    ] = False,
    lora_scale: Annotated[
        float,
        typer.Option(
            "--lora-scale", min=0.0, max=1.0, help="learned: share of the LoRA update merged at load (saved with it)."
        ),
    ] = 1.0,
) -> None:
    """Fine-tune a router on routing data.

    --router learned: LoRA on all-MiniLM-L6-v2 with the sentence-transformers trainers, a bi-encoder (and a
    cross-encoder with --ce-steps), stopped by --max-minutes (default 55). --router scoring: LoRA on a local LLM,
    loss only on the scoring router's answers, one packed sequence per conversation.

    Example: task-router train --router learned --data ../shared/benchmarks/sgd_train.jsonl.gz --out models/learned
    """
    command = shlex.join(["task-router", *sys.argv[1:]])
    if router not in ("learned", "scoring"):
        raise typer.BadParameter(f"--router {router!r} cannot be trained: choose 'learned' or 'scoring'")
    if recalibrate:
        _recalibrate(router, out)
        return
    if not data:
        raise typer.BadParameter("give the training data: --data PATH (a benchmark .jsonl / .jsonl.gz file)")
    check_files(data, "--data")  # before torch and the base model load
    check_output(out, "--out")
    rank = lora_r or (32 if router == "learned" else 16)
    shared = {
        "data": [str(p) for p in data],
        "out": str(out),
        "limit": limit,
        "lora_r": rank,
        "lora_alpha": 2 * rank,
        "seed": seed,
        "threads": threads,
    }
    if router == "learned":
        _train_learned(
            command,
            **shared,
            max_minutes=55.0 if max_minutes is None else max_minutes,
            bi_steps=bi_steps,
            ce_steps=ce_steps,
            bi_share=bi_share,
            bi_learning_rate=lr,
            ce_learning_rate=lr,
            bf16=bf16,
            low_memory=low_memory,
            lora_scale=lora_scale,
        )
        return
    if quantize and no_quantize:
        raise typer.BadParameter("give either --quantize or --no-quantize, not both")
    _train_scoring(
        command,
        augment={
            "copies": copies,
            "keep_original": keep_original,
            "min_tasks": min_tasks,
            "max_tasks": max_tasks,
            "short_description_prob": short_description_prob,
        },
        **shared,
        base=base,
        quantize=True if quantize else False if no_quantize else None,
        max_steps=max_steps,
        epochs=epochs,
        max_minutes=max_minutes,
        lr_scheduler=lr_scheduler,
        learning_rate=lr,
        warmup_steps=warmup_steps,
        lora_layers=lora_layers,
        grad_accum=grad_accum,
        examples_prob=examples_prob,
        save_steps=save_steps,
        resume=resume,
    )


def _recalibrate(router: str, out: Path) -> None:
    """Refit a trained learned-router folder's NONE scores and temperature (a bad folder is a usage error)."""
    from task_router._learned.training.train import recalibrate

    if router != "learned":
        raise typer.BadParameter("--recalibrate goes with --router learned", param_hint="--recalibrate")
    if not (out / "training.json").is_file():
        raise typer.BadParameter(
            f"{out} has no training.json: give a folder written by `task-router train --router learned`",
            param_hint="--out",
        )
    with _usage_errors():
        recalibrate(out, console=Console())


def _train_learned(command: str, **fields: Any) -> None:
    """Train the learned router's encoders (a bad config value is a one-line usage error)."""
    from task_router._learned.training.config import LearnedTrainConfig
    from task_router._learned.training.train import train_learned

    with _usage_errors():
        train_learned(LearnedTrainConfig(**fields), command=command, console=Console())


def _train_scoring(command: str, *, augment: dict[str, Any], **fields: Any) -> None:
    """Train a LoRA / QLoRA adapter for the scoring router (a bad config value is a one-line usage error)."""
    from task_router.training import AugmentConfig, TrainConfig
    from task_router.training._trainer import train

    with _usage_errors():
        train(TrainConfig(augment=AugmentConfig(**augment), **fields), command=command, console=Console())


@contextmanager
def _usage_errors() -> Iterator[None]:
    """A ValueError from validating or running a training config becomes a usage error naming the bad value."""
    try:
        yield
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
