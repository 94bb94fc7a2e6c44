"""The adapter's model card (README.md) and machine-readable metadata (task_router.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from task_router.models._local import TRAINING_META

CARD = "README.md"


def write_metadata(out: Path, meta: dict[str, Any]) -> Path:
    """``task_router.json``: ``quantized`` (read by ``qlora:`` loading), config, data, command, metrics."""
    path = out / TRAINING_META
    path.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def render_card(meta: dict[str, Any]) -> str:
    """Markdown model card from the metadata written by the trainer.

    Example:
        >>> print(render_card({"base": "embedded", "quantized": False, "command": "task-router train ...",
        ...     "data": {"files": ["d.jsonl"], "conversations": 2}, "metrics": {"train_loss": 1.5}}).splitlines()[0])
        # Task-router adapter (embedded)
    """
    config = meta.get("config", {})
    lora = config.get("model", config)  # adapters trained before TRL's ModelConfig kept the LoRA fields flat
    modules = lora.get("lora_target_modules", lora.get("target_modules")) or []  # older adapters: target_modules
    data = meta.get("data", {})
    metrics = meta.get("metrics", {})
    lines = [
        f"# Task-router adapter ({meta.get('base', '?')})",
        "",
        "A LoRA adapter trained by `task-router train` to answer the `scoring` router's question (which task is",
        "the assistant doing after the user's latest message, and is the user finishing it) in the exact prompt",
        "layout of `task_router._inference.engine`. Use it as `qlora:<this folder>` with any router kind.",
        "",
        "## Base model",
        f"- base: `{meta.get('base', '?')}` ({'4-bit NF4 + LoRA (QLoRA)' if meta.get('quantized') else 'bf16 + LoRA'})",
        f"- LoRA r={lora.get('lora_r')}, alpha={lora.get('lora_alpha')}, dropout={lora.get('lora_dropout')}, "
        f"modules {', '.join([modules] if isinstance(modules, str) else modules)}"
        + (f", top {lora['lora_layers']} layers only" if lora.get("lora_layers") else ", every layer"),
        "",
        "## Data",
        *[f"- `{name}`" for name in data.get("files", [])],
        f"- conversations (after augmentation): {data.get('conversations')}, packed sequences: "
        f"{data.get('sequences')}, decisions: {data.get('decisions')}, tokens: {data.get('tokens')}",
        f"- augmentation: `{json.dumps(config.get('augment', {}))}`; seed {config.get('seed')}",
        "",
        "## Command",
        "```",
        str(meta.get("command", "")),
        "```",
        "",
        "## Training metrics",
        *[f"- {key}: {value}" for key, value in metrics.items()],
    ]
    evaluation = meta.get("evaluation")
    if evaluation:
        lines += ["", "## Evaluation", "", str(evaluation)]
    return "\n".join(lines) + "\n"


def write_card(out: Path, meta: dict[str, Any]) -> Path:
    path = out / CARD
    path.write_text(render_card(meta), encoding="utf-8")
    return path
