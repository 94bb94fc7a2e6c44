"""Report helpers: the task confusion image's top-N folding and RESULTS.md rows."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from task_router.evaluation import build_metrics, load_dataset, replay
from task_router.evaluation._plots import errors_per_label, top_n_confusion, write_confusion_plots
from task_router.evaluation._report import results_row
from tests.unit_tests.evaluation.scripted import FIXTURE, ScriptedRouter


def test_top_n_keeps_the_most_frequent_gold_tasks_and_none_and_folds_the_rest() -> None:
    confusion = {
        "labels": ["a", "b", "c", "NONE"],
        "matrix": [[5, 1, 0, 0], [0, 1, 2, 0], [1, 0, 0, 0], [0, 0, 1, 2]],
    }
    folded = top_n_confusion(confusion, top=1)
    assert folded["labels"] == ["a", "NONE", "other"]
    # rows a, NONE, other(b+c); columns a, NONE, other(b+c)
    assert folded["matrix"] == [[5, 0, 1], [0, 2, 1], [1, 0, 3]]
    assert sum(map(sum, folded["matrix"])) == sum(map(sum, confusion["matrix"]))
    assert top_n_confusion(confusion, top=3) == confusion


def test_top_n_by_errors_keeps_the_most_confused_tasks_not_the_largest() -> None:
    confusion = {
        "labels": ["big", "mixed_a", "mixed_b", "NONE"],
        "matrix": [[50, 0, 0, 0], [0, 1, 2, 0], [0, 1, 1, 0], [0, 0, 0, 3]],
    }
    assert errors_per_label(confusion) == {"big": 0, "mixed_a": 3, "mixed_b": 3, "NONE": 0}
    assert top_n_confusion(confusion, top=1)["labels"] == ["big", "NONE", "other"]  # by support (the default)
    folded = top_n_confusion(confusion, top=1, rank="errors")
    assert folded["labels"] == ["mixed_a", "NONE", "other"]
    assert folded["matrix"] == [[1, 0, 2], [0, 3, 0], [1, 0, 51]]


def test_task_confusion_image_stays_readable_with_150_long_task_names(tmp_path: Path) -> None:
    """The issue's image: 150 tasks squashed into a corner, the title cut, labels taking most of the image."""
    names = [f"Service_{i}.SomeVeryLongIntentNameThatGoesOnAndOn_{i}" for i in range(150)]
    labels = [*names, "NONE"]
    matrix = [[0] * len(labels) for _ in labels]
    for i in range(len(labels)):
        matrix[i][i] = 4
        matrix[i][(i + 1) % len(labels)] = i % 3  # some tasks are confused with their neighbour
    metrics = {
        "model": "learned:builtin",
        "router": "learned",
        "state": "own",
        "confusion": {
            "tasks": {"labels": labels, "matrix": matrix},
            "events": {"labels": ["START", "NONE"], "matrix": [[5, 1], [2, 3]]},
        },
    }
    events, tasks = write_confusion_plots(metrics, tmp_path)
    width, height = Image.open(tasks).size
    assert 800 <= width <= 1800 and 800 <= height <= 1800  # 22 rows: neither a poster nor a thumbnail
    assert 0.75 <= width / height <= 1.4  # the matrix fills the image, not one corner of it
    assert Image.open(events).size[0] < 700  # 2 events: a small figure


def test_results_row_says_n_a_without_support() -> None:
    records = load_dataset(FIXTURE, limit=1)  # no gold NONE turn in the first conversation
    turns = [p.result for p in replay(records, ScriptedRouter(), progress=False)]
    metrics = build_metrics(
        turns, dataset="x/eval_small.jsonl", model="m", router="scripted", n_conversations=1, state="gold"
    )
    cells = [cell.strip() for cell in results_row(metrics).strip("|").split("|")]
    assert cells[:4] == ["eval_small (1 conv., 4 turns)", "m", "scripted", "gold"]
    assert cells[8] == "n/a"  # None F1: no gold NONE turn
    assert (
        cells[-1]
        == "`task-router eval --dataset x/eval_small.jsonl --model m --router scripted --limit 1 --gold-state`"
    )
