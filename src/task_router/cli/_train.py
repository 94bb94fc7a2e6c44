"""`task-router train`: fine-tune a router on benchmark-format data: the learned router's encoders
(``--router learned``) or a LoRA / QLoRA adapter for the scoring router (the default)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console

from task_router.cli._base import app, check_files, check_output


@dataclass
class TrainScript:
    """What ``task-router train`` trains (TRL's ``ScriptArguments``); the rest of the command line is the chosen
    trainer's configuration, parsed by ``HfArgumentParser`` from its dataclasses."""

    router: str = field(
        default="scoring",
        metadata={
            "help": "What to train: 'scoring' (a LoRA adapter for a local LLM) or 'learned' (LoRA on "
            "all-MiniLM-L6-v2, the fast offline router).",
            "aliases": ["-r"],
            "choices": ["scoring", "learned"],
        },
    )
    recalibrate: bool = field(
        default=False,
        metadata={
            "help": "learned: fit the NONE scores and temperature of the trained folder --out again, on the held-out "
            "conversations its training.json names (no training)."
        },
    )


@app.command(
    "train",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def train_command(ctx: typer.Context) -> None:
    """Fine-tune a router on routing data (`task-router train --router learned --help` lists the options).

    --router learned: LoRA on all-MiniLM-L6-v2 with the sentence-transformers trainers, stopped by --max-minutes
    (default 55). --router scoring (default): LoRA / QLoRA on a local LLM (transformers' TrainingArguments and
    TRL's ModelConfig: --max-steps, --lr, --lora-r, --load-in-4bit ...), loss only on the scoring router's answers.

    Example: task-router train --router learned --data ../shared/benchmarks/sgd_train.jsonl.gz --out models/learned
    """
    args = list(ctx.args)
    command = shlex.join(["task-router", *sys.argv[1:]])
    script = _parser(TrainScript, add_help=False).parse_known_args(args)[0]
    try:
        _run(script, args, command)
    except typer.BadParameter as exc:
        if ";" in exc.message:
            raise
        hint = f"see `task-router train --router {script.router} --help`"
        raise typer.BadParameter(f"{exc.message}; {hint}", param_hint=exc.param_hint) from None


def _run(script: TrainScript, args: list[str], command: str) -> None:
    for old, fix in _REMOVED.get(script.router, {}).items():
        if old in args:
            raise typer.BadParameter(f"{old} is not a `train --router {script.router}` option: {fix}")
    if script.recalibrate:
        folder = _parser(_Folder, add_help=False).parse_known_args(args)[0].out
        if folder is None:
            raise typer.BadParameter("give the trained folder to recalibrate: --out DIR", param_hint="--recalibrate")
        _recalibrate(script.router, folder)
        return
    if script.router == "learned":
        from task_router._learned.training.config import LearnedTrainConfig

        _, learned = _parse(args, LearnedTrainConfig)
        check_files([Path(p) for p in learned.data], "--data")  # before torch and the base model load
        check_output(Path(learned.out), "--out")
        _train_learned(learned, command)
        return
    from task_router.training import AugmentConfig, RouterModelConfig, TrainConfig

    _, config, model_config, augment = _parse(args, TrainConfig, RouterModelConfig, AugmentConfig)
    check_files([Path(p) for p in config.data], "--data")
    check_output(config.out_dir, "--out")
    _train_scoring(config, model_config, augment, command)


# Options of the former hand-written command line that have no single field now, with what to give instead
_REMOVED = {
    "scoring": {"--no-quantize": "give --quantize false (plain LoRA; the default for the embedded model)"},
    "learned": {"--lr": "give --bi-learning-rate (and --ce-learning-rate for the cross-encoder stage)"},
}


@dataclass
class _Folder:
    out: Path | None = field(default=None, metadata={"aliases": ["-o"]})


def _parser(*dataclasses: Any, add_help: bool = True) -> Any:
    """transformers' HfArgumentParser over ``dataclasses``, whose errors are the CLI's usage errors (one line
    naming the fix, exit status 2). Imported here: the CLI starts without transformers."""
    from transformers import HfArgumentParser

    parser = HfArgumentParser(dataclasses, prog="task-router train", add_help=add_help, allow_abbrev=False)
    parser.error = _usage_error  # type: ignore[method-assign]
    return parser


def _usage_error(message: str) -> NoReturn:
    raise typer.BadParameter(message)


def _parse(args: list[str], *dataclasses: Any) -> tuple[Any, ...]:
    """The command line as (TrainScript, *dataclasses); a bad value is a usage error naming it."""
    with _usage_errors():
        return tuple(_parser(TrainScript, *dataclasses).parse_args_into_dataclasses(args))


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


def _train_learned(config: Any, command: str) -> None:
    """Train the learned router's encoders (a bad config value is a one-line usage error)."""
    from task_router._learned.training.train import train_learned

    with _usage_errors():
        train_learned(config, command=command, console=Console())


def _train_scoring(config: Any, model_config: Any, augment: Any, command: str) -> None:
    """Train a LoRA / QLoRA adapter for the scoring router (a bad config value is a one-line usage error)."""
    from task_router.training._trainer import train

    with _usage_errors():
        train(config, model_config, augment, command=command, console=Console())


@contextmanager
def _usage_errors() -> Iterator[None]:
    """A ValueError from validating or running a training config becomes a usage error naming the bad value."""
    try:
        yield
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
