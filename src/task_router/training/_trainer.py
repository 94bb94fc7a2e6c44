"""`task-router train`: LoRA / QLoRA on the scoring router's decisions with the transformers Trainer."""

from __future__ import annotations

import copy
import json
import logging
import resource
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from task_router.models._local import load_base
from task_router.training._augment import AugmentConfig
from task_router.training._card import write_card, write_metadata
from task_router.training._config import RouterModelConfig, TrainConfig
from task_router.training._data import build_dataset, load_training_records
from task_router.training._progress import RichProgressCallback, TimeBudgetCallback
from task_router.training._sequences import TreeCollator

logger = logging.getLogger("task_router")


@dataclass(frozen=True)
class TrainResult:
    out: Path
    metrics: dict[str, Any]
    meta: dict[str, Any]


def resolve_base_spec(base: str) -> tuple[Path, str, bool]:
    """(model folder, name to record as the adapter's base, is it the embedded model) for ``--base``.

    Accepted: ``embedded``, ``hf:<dir>`` or a local model folder. Models are never downloaded.
    """
    from task_router.models._local import embedded_model_dir

    if base == "embedded":
        return embedded_model_dir(), "embedded", True
    path = Path(base[3:] if base.startswith("hf:") else base).expanduser()
    if not (path / "config.json").is_file():
        raise ValueError(
            f"--base {base!r} is not a local model folder (no config.json): use 'embedded', 'hf:<model dir>' or a "
            "folder saved with save_pretrained (models are not downloaded)"
        )
    resolved = path.resolve()
    return resolved, str(resolved), resolved == embedded_model_dir().resolve()


def disable_cpu_inference_repack(model: Any) -> int:
    """bitsandbytes on CPU rewrites ``Linear4bit`` weights into an inference-only format on any eval-mode forward,
    after which most LoRA tensors silently get no gradient. Turning that path off on every 4-bit
    layer keeps training correct. Returns the number of layers changed."""
    try:
        import bitsandbytes as bnb
    except ImportError:
        return 0
    count = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
            count += 1
    return count


def train(
    config: TrainConfig,
    model_config: RouterModelConfig | None = None,
    augment: AugmentConfig | None = None,
    *,
    command: str = "",
    console: Console | None = None,
) -> TrainResult:
    """Train a LoRA adapter for the scoring router and write it, with its model card, to ``config.output_dir``.

    Args:
        config: the training arguments (transformers' ``TrainingArguments`` with this trainer's defaults) and data.
        model_config: the base model and its LoRA (TRL's ``ModelConfig``; default: the embedded model).
        augment: how the training conversations are varied (default: :class:`AugmentConfig`'s).
        command: the command line that ran this, written to the model card.
        console: where progress goes.

    Returns:
        The adapter folder, the training metrics and the metadata saved as ``task_router.json``.

    Example:
        >>> config = TrainConfig(data=["tests/fixtures/train_tiny.jsonl"], output_dir="/tmp/adapter", max_steps=2)
        >>> train(config).metrics["steps"]  # doctest: +SKIP
        2
    """
    import torch
    from peft import get_peft_model
    from transformers import AutoTokenizer, PrinterCallback, set_seed
    from trl import get_peft_config

    from task_router._inference import PromptLayout
    from task_router._prompting import load_prompt
    from task_router.models._cpu import peft_quietly
    from task_router.training._loss import DecisionTrainer

    console = console or Console()
    model_config = model_config or RouterModelConfig()
    augment = augment or AugmentConfig()
    started = time.perf_counter()
    if config.threads:
        torch.set_num_threads(config.threads)
    set_seed(config.seed)
    base_dir, base_name, embedded = resolve_base_spec(str(model_config.model_name_or_path))
    quantize = model_config.resolved_quantize(embedded=embedded)
    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    layout = PromptLayout(tokenizer, load_prompt(config.prompt), window=config.window, stride=config.stride)
    records = load_training_records(
        config.data, limit=config.limit, augment=augment, seed=config.seed, examples_prob=config.examples_prob
    )
    dataset, stats = build_dataset(layout, records, max_tokens=config.max_tokens)
    console.print(
        f"data: {stats.conversations} conversations -> {stats.sequences} sequences, {stats.decisions} decisions, "
        f"{stats.tokens} tokens ({stats.answer_tokens} with loss)"
    )

    model = load_base(base_dir, quantize=quantize, gradient_checkpointing=bool(config.activation_checkpointing))
    lora = replace(get_peft_config(model_config), layers_to_transform=_top_layers(model, model_config.lora_layers))
    with peft_quietly():
        model = get_peft_model(model, lora)
    if quantize:
        console.print(f"4-bit NF4 base: CPU inference repack disabled on {disable_cpu_inference_repack(model)} layers")
    trainable, total = model.get_nb_trainable_parameters()
    console.print(f"base {base_name} ({'NF4' if quantize else 'bf16'}), LoRA trainable {trainable:,} / {total:,}")

    args = copy.copy(config)  # the adapter goes to output_dir, the Trainer's checkpoints below it
    args.output_dir = str(config.checkpoint_dir)
    budget = TimeBudgetCallback(config.max_minutes) if config.max_minutes else None
    trainer = DecisionTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=TreeCollator(pad_token_id=int(tokenizer.pad_token_id)),
        callbacks=[RichProgressCallback(console), *([budget] if budget else [])],
    )
    trainer.remove_callback(PrinterCallback)  # RichProgressCallback prints each logged loss already
    resume = config.resume and any(config.checkpoint_dir.glob("checkpoint-*"))
    if config.resume and not resume:
        console.print(f"[yellow]--resume: no checkpoint in {config.checkpoint_dir}, starting from scratch[/]")
    output = trainer.train(resume_from_checkpoint=True if resume else None)

    save_adapter(model, out, base_name=base_name, dtype=config.adapter_dtype)
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    metrics = {
        "train_loss": round(float(output.training_loss), 4),
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
        "steps": int(trainer.state.global_step),
        "epochs": round(float(trainer.state.epoch or 0.0), 3),
        "train_runtime_s": round(float(output.metrics.get("train_runtime", 0.0)), 1),
        "wall_time_s": round(elapsed, 1),
        "cpu_time_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "torch_threads": torch.get_num_threads(),
        "resumed": bool(resume),
        "stopped_by_time_budget": bool(budget and budget.stopped_early),
    }
    meta = {
        "quantized": quantize,
        "base": base_name,
        "command": command,
        "config": {**config.to_dict(), "model": asdict(model_config), "augment": asdict(augment)},
        "data": {"files": list(config.data), **stats.as_dict()},
        "metrics": metrics,
        "adapter_mb": round(sum(p.stat().st_size for p in out.glob("adapter_model.*")) / 1e6, 2),
    }
    write_metadata(out, meta)
    write_card(out, meta)
    console.print(f"adapter written to {out}: {json.dumps(metrics)}")
    return TrainResult(out, metrics, meta)


def _top_layers(model: Any, count: int | None) -> list[int] | None:
    """The indexes of the last ``count`` transformer layers (LoRA there only: the backward pass stops below)."""
    if count is None:
        return None
    total = int(model.config.num_hidden_layers)
    if not 1 <= count <= total:
        raise ValueError(f"lora_layers must be between 1 and the model's {total} layers, got {count}")
    return list(range(total - count, total))


def save_adapter(model: Any, out: Path, *, base_name: str, dtype: str = "bfloat16") -> None:
    """Save the LoRA weights (cast to ``dtype``) with ``base_model_name_or_path`` set to ``base_name``, which
    ``qlora:`` loading resolves (``embedded`` or a local folder)."""
    import torch

    if dtype == "bfloat16":
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.data = param.data.to(torch.bfloat16)
    model.save_pretrained(out)
    config_file = out / "adapter_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base_name
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
