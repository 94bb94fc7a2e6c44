"""The files of `examples/` work as the README and their comments say: the catalogue loads, the conversation
routes with it, and the labelled turns are a dataset `fit` and `eval` read (embedded learned router)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from task_router import TaskCatalog
from task_router.cli import app
from task_router.evaluation import load_dataset

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_example_catalogue_loads_and_the_labelled_turns_use_its_tasks() -> None:
    catalog = TaskCatalog.from_file(EXAMPLES / "catalog.yaml")
    records = load_dataset(EXAMPLES / "labelled.jsonl")
    assert sum(len(record.labels) for record in records) == 12
    names = {task["name"] for record in records for task in record.tasks}
    assert names <= set(catalog.names)
    assert any(label.digression for record in records for label in record.labels)


def test_the_example_conversation_routes_with_the_example_catalogue() -> None:
    result = CliRunner().invoke(
        app,
        ["route", "--catalog", str(EXAMPLES / "catalog.yaml"), "--conversation", str(EXAMPLES / "conversation.json")],
    )
    assert result.exit_code == 0, result.output
    decision = json.loads(result.stdout[result.stdout.index("{") :])
    assert (decision["event"], decision["task"]) == ("CONTINUE", "hotel_booking")


def test_fit_on_the_labelled_turns_writes_thresholds_eval_applies(tmp_path: Path) -> None:
    out = tmp_path / "thr.json"
    result = CliRunner().invoke(app, ["fit", "--dataset", str(EXAMPLES / "labelled.jsonl"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["router"] == "learned"
    result = CliRunner().invoke(
        app,
        [
            "eval",
            "--dataset",
            str(EXAMPLES / "labelled.jsonl"),
            "--thresholds",
            str(out),
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "metrics.json").is_file()
