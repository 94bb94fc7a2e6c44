"""An evaluation run's files (metrics.json, report.md, predictions.jsonl, confusion-matrix PNGs) and its rich
tables.

The PNGs need matplotlib (the ``eval`` or ``cli`` extra) and the tables rich (the ``cli`` extra); both are imported
when used. The confusion-matrix images are drawn headless (matplotlib's Agg backend): row-normalised heat maps sized
to their labels (:func:`plot_confusion`, :func:`write_confusion_plots`).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from task_router._catalog import NONE_LABEL
from task_router._decision import EVENTS
from task_router._io_limits import replacing_together
from task_router._learned.model import BUILTIN_LABEL
from task_router._resources import require
from task_router.evaluation._metrics import TurnResult, compute_metrics

if TYPE_CHECKING:
    from rich.table import Table

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
PREDICTIONS_FILE = "predictions.jsonl"


def build_metrics(
    turns: Sequence[TurnResult],
    *,
    dataset: str,
    model: str,
    router: str,
    n_conversations: int,
    state: str,
    shortlist: int | None = None,
    rerank: str | None = None,
    thresholds: str | None = None,
) -> dict[str, Any]:
    """The full metrics.json mapping of docs/contract.md, plus ``state`` (and ``shortlist`` / ``rerank`` /
    ``thresholds`` when the router used them)."""
    return {
        "dataset": dataset,
        "model": model,
        "router": router,
        "state": state,
        **({"shortlist": shortlist} if shortlist else {}),
        **({"rerank": rerank} if rerank else {}),
        **({"thresholds": thresholds} if thresholds else {}),
        "n_conversations": n_conversations,
        "n_turns": len(turns),
        **compute_metrics(turns),
    }


def write_run(out_dir: Path, metrics: dict[str, Any], predictions: Sequence[dict[str, Any]]) -> list[Path]:
    """Write metrics.json, report.md, predictions.jsonl and the confusion PNGs into ``out_dir``, all of them or none.

    They are written into a staging folder first (:func:`~task_router._io_limits.replacing_together`): a run that
    fails or is interrupted while writing leaves an earlier run in ``out_dir`` whole. metrics.json marks a whole
    set: it is moved into place last, after the earlier run's one was removed, so a folder with metrics.json holds
    the report, predictions and PNGs written with it; a crash during the moves leaves no metrics.json
    (:func:`load_metrics` then says to give the folder of a run).

    Raises:
        ImportError: matplotlib is not installed (checked before anything is written), naming the extra to install.
    """
    require_plotting()

    with replacing_together(out_dir, moved_last=METRICS_FILE) as staging:
        (staging / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        (staging / REPORT_FILE).write_text(render_report(metrics), encoding="utf-8")
        with (staging / PREDICTIONS_FILE).open("w", encoding="utf-8") as handle:
            for row in predictions:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        images = write_confusion_plots(metrics, staging)
    return [out_dir / name for name in (METRICS_FILE, REPORT_FILE, PREDICTIONS_FILE, *(image.name for image in images))]


def require_plotting() -> None:
    """Raise ImportError naming the ``eval`` extra when matplotlib, which draws a run's PNGs, is not installed."""
    require("matplotlib", extra="eval", purpose="the confusion-matrix PNGs of an evaluation run (out_dir)")


def load_metrics(run_dir: Path) -> dict[str, Any]:
    path = run_dir / METRICS_FILE if run_dir.is_dir() else run_dir
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path} ({exc}): give the --out folder of a 'task-router eval' run") from None


# -- markdown -------------------------------------------------------------------------------------------------
def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _f(value: float) -> str:
    return f"{value:.3f}"


def render_report(metrics: dict[str, Any]) -> str:
    """report.md: the figures of metrics.json as markdown tables."""
    latency = metrics["latency_ms"]
    none = metrics["none_detection"]
    overview = [
        ("dataset", metrics["dataset"]),
        ("model", metrics["model"]),
        ("router", metrics["router"]),
        ("state", metrics["state"]),
        ("conversations", metrics["n_conversations"]),
        ("turns", metrics["n_turns"]),
        ("task accuracy", _f(metrics["task_accuracy"])),
        ("task selection accuracy (START/SWITCH)", _f(metrics["task_selection_accuracy"])),
        ("event accuracy", _f(metrics["event_accuracy"])),
        ("invalid format", metrics["invalid_format"]),
        ("latency p50 / p95 / mean (ms)", f"{latency['p50']:.1f} / {latency['p95']:.1f} / {latency['mean']:.1f}"),
    ]
    per_class = [
        (name, _f(s["precision"]), _f(s["recall"]), _f(s["f1"]), s["support"])
        for name, s in [*metrics["events"].items(), ("NONE task (none detection)", none)]
    ]
    sections = [
        f"# Routing evaluation: {metrics['model']} / {metrics['router']} on {Path(metrics['dataset']).name}",
        _md_table(["figure", "value"], overview),
        "## Events and None detection",
        _md_table(["class", "precision", "recall", "F1", "support"], per_class),
        *_splits_md(metrics.get("splits")),
        *_digressions_md(metrics),
        *_asking_md(metrics),
        "## Event confusion (rows: gold, columns: predicted)",
        _confusion_md(metrics["confusion"]["events"]),
        "![event confusion](confusion_events.png)",
        "## Task confusion",
        f"{len(metrics['confusion']['tasks']['labels'])} task labels; the full matrix is in metrics.json, the image "
        "shows the tasks involved in the most mistakes (rows normalised: % of each gold task's turns) and folds the "
        "rest into 'other'.",
        "![task confusion](confusion_tasks.png)",
    ]
    return "\n\n".join(sections) + "\n"


def _splits_md(splits: dict[str, Any] | None) -> list[str]:
    """Seen vs unseen services: the same figures on tasks whose service was trained on and on new ones."""
    if not splits:
        return []
    rows = [
        (
            name,
            s["n_turns"],
            _f(s["task_accuracy"]),
            _f(s["task_selection_accuracy"]),
            *(_f(s["events"][e]["f1"]) for e in ("START", "SWITCH", "END")),
        )
        for name, s in splits.items()
    ]
    header = ["services", "turns", "task accuracy", "selection accuracy", "START F1", "SWITCH F1", "END F1"]
    return ["## Seen vs unseen services (generalization)", _md_table(header, rows)]


def _digressions_md(metrics: dict[str, Any]) -> list[str]:
    """Off-topic requests while a task is active, and the turn after each (only when the data has digressions)."""
    digressions = metrics.get("digressions") or {}
    if not digressions.get("support"):
        return []
    after = metrics.get("after_digression") or {}
    rows = [
        ("digression precision", _f(digressions["precision"])),
        ("digression recall", _f(digressions["recall"])),
        ("digression F1", _f(digressions["f1"])),
        ("gold digressions", digressions["support"]),
        ("turn after a digression right", f"{_f(after.get('task_accuracy', 0.0))} (n={after.get('n', 0)})"),
    ]
    return ["## Digressions (NONE while a task is active; the task stays active)", _md_table(["figure", "value"], rows)]


def _asking_md(metrics: dict[str, Any]) -> list[str]:
    """Calibration of the confidences, and the risk-coverage table of asking between close tasks."""
    sections = []
    calibration = metrics.get("calibration") or {}
    if calibration.get("n"):
        sections += [f"ECE of the decisions' confidence: {_f(calibration['ece'])} over {calibration['n']} turns."]
    same = metrics.get("same_service_errors") or {}
    if same.get("n"):
        sections += [
            f"Errors naming a task of the gold task's own service: {same['n']} ({same['share_of_errors']:.0%})."
        ]
    rows = [
        (r["margin"], f"{r['asked']:.1%}", f"{r['errors_left']:.2%}", f"{r['errors_removed']:.1%}")
        for r in metrics.get("risk_coverage") or []
    ]
    if rows and any(r[1] != "0.0%" for r in rows):
        sections += [
            "Asking when the two most probable tasks are closer than a margin (`clarify_margin`); an asked turn "
            "counts as settled by the user's answer, carried-over errors it would also prevent are not credited:",
            _md_table(["margin", "turns asked", "errors left (share of turns)", "errors removed"], rows),
        ]
    return ["## Confidence and asking", *sections] if sections else []


def _confusion_md(confusion: dict[str, Any]) -> str:
    labels = confusion["labels"]
    rows = [(label, *row) for label, row in zip(labels, confusion["matrix"], strict=True)]
    return _md_table(["gold \\ predicted", *labels], rows)


# -- rich tables ----------------------------------------------------------------------------------------------
SUMMARY_ROWS: tuple[tuple[str, Any], ...] = (
    ("turns", lambda m: str(m["n_turns"])),
    ("task accuracy", lambda m: _f(m["task_accuracy"])),
    ("task selection acc.", lambda m: _f(m["task_selection_accuracy"])),
    ("event accuracy", lambda m: _f(m["event_accuracy"])),
    *(
        (f"{event} event F1", lambda m, e=event: f"{_f(m['events'][e]['f1'])} (n={m['events'][e]['support']})")
        for event in EVENTS
    ),
    ("None detection F1", lambda m: f"{_f(m['none_detection']['f1'])} (n={m['none_detection']['support']})"),
    ("digression P / R", lambda m: _digression_cell(m)),
    ("turn after digression", lambda m: _after_cell(m)),
    ("ECE", lambda m: _f(m["calibration"]["ece"]) if (m.get("calibration") or {}).get("n") else "n/a"),
    *((f"task acc. {name} services", lambda m, n=name: _split_cell(m, n)) for name in ("seen", "unseen")),
    ("invalid format", lambda m: str(m["invalid_format"])),
    ("latency p50 ms", lambda m: f"{m['latency_ms']['p50']:.1f}"),
    ("latency p95 ms", lambda m: f"{m['latency_ms']['p95']:.1f}"),
)


def _digression_cell(metrics: dict[str, Any]) -> str:
    scores = metrics.get("digressions") or {}
    if not scores.get("support"):
        return "n/a"
    return f"{_f(scores['precision'])} / {_f(scores['recall'])} (n={scores['support']})"


def _after_cell(metrics: dict[str, Any]) -> str:
    after = metrics.get("after_digression") or {}
    return f"{_f(after['task_accuracy'])} (n={after['n']})" if after.get("n") else "n/a"


def _split_cell(metrics: dict[str, Any], name: str) -> str:
    split = metrics.get("splits", {}).get(name)
    return f"{_f(split['task_accuracy'])} (n={split['n_turns']})" if split else "n/a"


def _splits_cell(metrics: dict[str, Any]) -> str:
    splits = metrics.get("splits", {})
    if not splits:
        return ""
    return " (" + " / ".join(_f(splits[n]["task_accuracy"]) if n in splits else "n/a" for n in ("seen", "unseen")) + ")"


def summary_table(metrics: dict[str, Any]) -> Table:
    return compare_table([metrics], [f"{metrics['model']} / {metrics['router']} ({metrics['state']})"])


def compare_table(runs: Sequence[dict[str, Any]], names: Sequence[str]) -> Table:
    """Runs side by side, one column each."""
    table = require("rich.table", extra="cli", purpose="the rich tables of evaluation runs").Table(
        title="Routing evaluation"
    )
    table.add_column("metric", style="bold")
    for name in names:
        table.add_column(name, justify="right")
    table.add_row("dataset", *(Path(m["dataset"]).name for m in runs))
    table.add_row("model / router", *(f"{m['model']} / {m['router']}" for m in runs))
    table.add_row("state", *(m.get("state", "own") for m in runs))
    for label, cell in SUMMARY_ROWS:
        table.add_row(label, *(cell(m) for m in runs))
    return table


# -- benchmarks/RESULTS.md ------------------------------------------------------------------------------------
RESULTS_HEADER = (
    "| dataset | model | router | state | task acc. (seen / unseen services) | START F1 | SWITCH F1 | END F1 | None F1 "
    "| invalid format | p50 ms | command |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
)


MODEL_FREE_ROUTERS = ("embedding", "learned")  # their "model" is an encoder label, not a --model spec


def _f1_cell(scores: dict[str, Any]) -> str:
    return _f(scores["f1"]) if scores["support"] else "n/a"


def results_row(metrics: dict[str, Any]) -> str:
    """One row of benchmarks/RESULTS.md for a run, with the command that reproduces it (F1 is n/a without support)."""
    events = metrics["events"]
    dataset = Path(metrics["dataset"]).name.split(".")[0]
    model = "" if metrics["router"] in MODEL_FREE_ROUTERS else f" --model {metrics['model']}"
    kind = metrics["router"]
    if kind == "learned" and metrics["model"] != BUILTIN_LABEL:
        kind = metrics["model"]  # a trained folder is chosen with --router learned:<dir>, not --model
    command = (
        f"task-router eval --dataset {metrics['dataset']}{model} --router {kind} "
        f"--limit {metrics['n_conversations']}"
        + (f" --shortlist {metrics['shortlist']}" if metrics.get("shortlist") else "")
        + (f" --rerank {metrics['rerank']}" if metrics.get("rerank") else "")
        + (f" --thresholds {metrics['thresholds']}" if metrics.get("thresholds") else "")
        + (" --gold-state" if metrics.get("state") == "gold" else "")
    )
    router = metrics["router"] + (f" + shortlist {metrics['shortlist']}" if metrics.get("shortlist") else "")
    cells = [
        f"{dataset} ({metrics['n_conversations']} conv., {metrics['n_turns']} turns)",
        metrics["model"],
        router,
        metrics.get("state", "own"),
        _f(metrics["task_accuracy"]) + _splits_cell(metrics),
        _f1_cell(events["START"]),
        _f1_cell(events["SWITCH"]),
        _f1_cell(events["END"]),
        _f1_cell(metrics["none_detection"]),
        f"{metrics['invalid_format']}/{metrics['n_turns']}",
        f"{metrics['latency_ms']['p50']:.1f}",
        f"`{command}`",
    ]
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


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
    import matplotlib

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt

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
