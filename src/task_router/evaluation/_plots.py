"""Confusion-matrix images (matplotlib, headless): row-normalised heat maps sized to their labels."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display

import matplotlib.pyplot as plt
import numpy as np

from task_router._catalog import NONE_LABEL

OTHER_LABEL = "other"
DEFAULT_TOP_TASKS = 20
LABEL_CHARS = 28  # longer task names are cut in the middle with "…" (the full matrix is in metrics.json)
_CELL_INCHES = 0.42
_CHAR_INCHES = 0.062  # width of one tick-label character at font size 8


def errors_per_label(confusion: dict[str, Any]) -> dict[str, int]:
    """Turns a label is involved in a mistake: its gold turns predicted as something else plus the turns of other
    labels predicted as it."""
    matrix = np.asarray(confusion["matrix"], dtype=int).reshape(len(confusion["labels"]), -1)
    off = matrix - np.diag(np.diag(matrix))
    return {label: int(off[i].sum() + off[:, i].sum()) for i, label in enumerate(confusion["labels"])}


def top_n_confusion(
    confusion: dict[str, Any], top: int = DEFAULT_TOP_TASKS, *, rank: Literal["support", "errors"] = "support"
) -> dict[str, Any]:
    """Keep ``top`` labels (and NONE); fold the rest into one "other" row/column.

    Args:
        confusion: ``{"labels": [...], "matrix": rows gold x columns predicted}``.
        top: how many labels besides NONE to keep.
        rank: keep the labels with the most gold turns ("support"), or with the most mistakes ("errors", see
            :func:`errors_per_label`; ties by support), which is what a reader of a large matrix looks for.
    """
    labels: list[str] = confusion["labels"]
    matrix: list[list[int]] = confusion["matrix"]
    if len(labels) <= top + 1:
        return confusion
    support = {label: sum(row) for label, row in zip(labels, matrix, strict=True)}
    errors = errors_per_label(confusion) if rank == "errors" else dict.fromkeys(labels, 0)
    candidates = [label for label in labels if label != NONE_LABEL]
    kept = sorted(candidates, key=lambda label: (-errors[label], -support[label]))[:top]
    if NONE_LABEL in labels:
        kept.append(NONE_LABEL)
    new_labels = [*kept, OTHER_LABEL]
    position = {label: new_labels.index(label) if label in kept else len(kept) for label in labels}
    folded = [[0] * len(new_labels) for _ in new_labels]
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            folded[position[labels[i]]][position[labels[j]]] += count
    return {"labels": new_labels, "matrix": folded}


def plot_confusion(confusion: dict[str, Any], path: Path, *, title: str, note: str | None = None) -> Path:
    """A row-normalised heat map: each cell is the share of the row's gold turns given that prediction.

    Rows are labelled with their number of gold turns, cells show their share in percent, the colour scale is
    0-100 % whatever the counts, and the figure grows with the number of labels and their length, so that 5 events
    and 20 task names are both readable; long names are cut to ``LABEL_CHARS`` characters.
    """
    labels = [_short(label) for label in confusion["labels"]]
    counts = np.asarray(confusion["matrix"], dtype=float).reshape(len(labels), -1)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    label_inches = _CHAR_INCHES * max((len(label) for label in labels), default=4) + 0.6
    grid = _CELL_INCHES * len(labels)
    width, height = grid + label_inches + 1.2, grid + label_inches + 1.0
    fig, ax = plt.subplots(figsize=(max(width, 4.5), max(height, 4.0)))
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label("share of the row's gold turns")
    ax.set_xticks(range(len(labels)), labels=labels, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    row_labels = [f"{label} ({int(n)})" for label, n in zip(labels, totals[:, 0], strict=True)]
    ax.set_yticks(range(len(labels)), labels=row_labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold (turns)")
    wrap = max(40, int(width * 11))  # characters that fit across the figure at the title's size
    heading = "\n".join(textwrap.wrap(title, wrap) + (textwrap.wrap(note, wrap + 10) if note else []))
    ax.set_title(heading, fontsize=10)
    for i, j in zip(*np.nonzero(counts), strict=True):
        share = shares[i, j]
        text = f"{100 * share:.0f}" if share >= 0.005 else "<1"
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if share > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def write_confusion_plots(metrics: dict[str, Any], out_dir: Path, *, top_tasks: int = DEFAULT_TOP_TASKS) -> list[Path]:
    """``confusion_events.png`` and ``confusion_tasks.png``: with more than ``top_tasks`` tasks, the tasks involved
    in the most mistakes (and NONE), the rest folded into "other"."""
    run = f"{metrics['model']} / {metrics['router']} ({metrics['state']} state)"
    full = metrics["confusion"]["tasks"]
    tasks = top_n_confusion(full, top_tasks, rank="errors")
    n_tasks = len([label for label in full["labels"] if label != NONE_LABEL])
    note = "rows: gold, columns: predicted, cells: % of the row"
    if tasks is not full:
        note = f"the {top_tasks} most confused of {n_tasks} tasks, the rest as 'other'; {note}"
    return [
        plot_confusion(metrics["confusion"]["events"], out_dir / "confusion_events.png", title=f"Events: {run}"),
        plot_confusion(tasks, out_dir / "confusion_tasks.png", title=f"Tasks: {run}", note=note),
    ]


def _short(label: str, limit: int = LABEL_CHARS) -> str:
    """The label cut in the middle, so that both a service prefix and the intent's end stay visible."""
    if len(label) <= limit:
        return label
    head = (limit - 1) // 2
    return f"{label[:head]}…{label[-(limit - 1 - head) :]}"
