"""Report helpers: the task confusion image's top-N folding and RESULTS.md rows."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from task_router.evaluation import build_metrics, load_dataset, replay
from task_router.evaluation._report import (
    METRICS_FILE,
    PREDICTIONS_FILE,
    REPORT_FILE,
    errors_per_label,
    load_metrics,
    render_report,
    results_row,
    top_n_confusion,
    write_confusion_plots,
    write_run,
)
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


def fixture_metrics(conversations: int) -> dict[str, Any]:
    records = load_dataset(FIXTURE, limit=conversations)
    turns = [p.result for p in replay(records, ScriptedRouter(), progress=False)]
    return build_metrics(
        turns, dataset="eval_small.jsonl", model="m", router="scripted", n_conversations=conversations, state="gold"
    )


@pytest.mark.parametrize("moves_before_the_crash", range(5))  # 5 files: metrics, report, predictions, 2 PNGs
def test_a_crash_between_the_final_moves_never_leaves_metrics_beside_another_run_s_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moves_before_the_crash: int
) -> None:
    """Each file reaches the run folder by its own rename: a crash between two of them must not leave the new
    metrics.json beside the earlier run's report and predictions. metrics.json marks a whole run: while it is in
    the folder, the files beside it are the ones written with it; a half-moved run has none."""
    write_run(tmp_path, fixture_metrics(1), [{"run": "earlier"}])
    real_replace, moved = os.replace, []

    def crashing(source: Any, target: Any) -> None:
        if Path(target).parent == tmp_path:  # a final move (not a write inside the staging folder)
            if len(moved) == moves_before_the_crash:
                raise KeyboardInterrupt  # the process dies here
            moved.append(Path(target).name)
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", crashing)
    with pytest.raises(KeyboardInterrupt):
        write_run(tmp_path, fixture_metrics(2), [{"run": "new"}])
    monkeypatch.undo()
    if (tmp_path / METRICS_FILE).exists():
        metrics = load_metrics(tmp_path)
        assert (tmp_path / REPORT_FILE).read_text(encoding="utf-8") == render_report(metrics)
        run = "new" if metrics["n_conversations"] == 2 else "earlier"
        assert json.loads((tmp_path / PREDICTIONS_FILE).read_text(encoding="utf-8")) == {"run": run}
    else:  # a half-moved run says so to whoever reads it
        with pytest.raises(ValueError, match="give the --out folder of a 'task-router eval' run"):
            load_metrics(tmp_path)
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []  # no staging folder left


@pytest.mark.parametrize(
    ("model", "router_option"),
    [("learned:builtin", "--router learned"), ("learned:/models/mine", "--router learned:/models/mine")],
)
def test_results_row_reproduces_a_learned_run_with_its_own_model(model: str, router_option: str) -> None:
    """The learned router's model is chosen by ``--router learned:<dir>`` (``--model`` is not read for it): the
    command of a run with a trained folder must name that folder, not run the shipped model under --model."""
    metrics = {**fixture_metrics(1), "router": "learned", "model": model}
    command = results_row(metrics).rsplit("|", 2)[-2].strip()
    assert command == f"`task-router eval --dataset eval_small.jsonl {router_option} --limit 1 --gold-state`"


def test_results_row_reproduces_a_run_with_fitted_thresholds(tmp_path) -> None:
    """A run routed with `--thresholds FILE` records the file, and its RESULTS.md command gives it again."""
    from task_router.evaluation import evaluate_router

    run = evaluate_router(
        load_dataset(FIXTURE, limit=1), ScriptedRouter(), state="gold", progress=False, thresholds="thr.json"
    )
    assert run.metrics["thresholds"] == "thr.json"
    assert results_row(run.metrics).rsplit("|", 2)[-2].strip().endswith(" --thresholds thr.json --gold-state`")
    assert "thresholds" not in fixture_metrics(1)  # a run without fitted thresholds records none
