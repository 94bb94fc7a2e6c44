"""Report helpers: the task confusion image's top-N folding and RESULTS.md rows."""

from __future__ import annotations

from eval_scripted import FIXTURE, ScriptedRouter

from task_router.evaluation import build_metrics, load_dataset, replay
from task_router.evaluation.plots import top_n_confusion
from task_router.evaluation.report import results_row


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
