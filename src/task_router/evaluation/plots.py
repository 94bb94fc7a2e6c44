"""Confusion-matrix images (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display

import matplotlib.pyplot as plt

from task_router.catalog import NONE_LABEL

OTHER_LABEL = "other"
DEFAULT_TOP_TASKS = 15


def top_n_confusion(confusion: dict[str, Any], top: int = DEFAULT_TOP_TASKS) -> dict[str, Any]:
    """Keep the ``top`` labels with the most gold turns (and NONE); fold the rest into one "other" row/column."""
    labels: list[str] = confusion["labels"]
    matrix: list[list[int]] = confusion["matrix"]
    if len(labels) <= top + 1:
        return confusion
    support = {label: sum(row) for label, row in zip(labels, matrix, strict=True)}
    kept = sorted((label for label in labels if label != NONE_LABEL), key=lambda label: -support[label])[:top]
    if NONE_LABEL in labels:
        kept.append(NONE_LABEL)
    new_labels = [*kept, OTHER_LABEL]
    position = {label: new_labels.index(label) if label in kept else len(kept) for label in labels}
    folded = [[0] * len(new_labels) for _ in new_labels]
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            folded[position[labels[i]]][position[labels[j]]] += count
    return {"labels": new_labels, "matrix": folded}


def plot_confusion(confusion: dict[str, Any], path: Path, *, title: str) -> Path:
    labels: Sequence[str] = confusion["labels"]
    matrix = confusion["matrix"]
    size = max(4.0, 0.45 * len(labels) + 2.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(len(labels)), labels=[_short(label) for label in labels], rotation=60, ha="right")
    ax.set_yticks(range(len(labels)), labels=[_short(label) for label in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    peak = max((max(row) for row in matrix), default=0)
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            if count:
                color = "white" if count > peak / 2 else "black"
                ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color=color)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_confusion_plots(metrics: dict[str, Any], out_dir: Path, *, top_tasks: int = DEFAULT_TOP_TASKS) -> list[Path]:
    """``confusion_events.png`` and ``confusion_tasks.png`` (top tasks by gold support, the rest as "other")."""
    run = f"{metrics['model']} / {metrics['router']} ({metrics['state']} state)"
    tasks = top_n_confusion(metrics["confusion"]["tasks"], top_tasks)
    return [
        plot_confusion(metrics["confusion"]["events"], out_dir / "confusion_events.png", title=f"Events: {run}"),
        plot_confusion(tasks, out_dir / "confusion_tasks.png", title=f"Tasks: {run}"),
    ]


def _short(label: str, limit: int = 36) -> str:
    return label if len(label) <= limit else f"{label[: limit - 1]}…"
