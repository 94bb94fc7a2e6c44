"""`task-router eval` with real routers on the hand-made fixture: files, keys and figures consistent with the turns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from task_router.cli import app
from task_router.evaluation import TurnResult, compute_metrics
from tests.conftest import FIXTURES

FIXTURE = FIXTURES / "eval_small.jsonl"
TASKS = {"recap", "email", "flight", "NONE"}


def check_run(out: Path) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert (metrics["n_conversations"], metrics["n_turns"], len(rows)) == (3, 7, 7)
    assert {row["task"] for row in rows} <= TASKS  # never a made-up task
    turns = [TurnResult(**{k: row[k] for k in TurnResult.__dataclass_fields__}) for row in rows]
    assert {k: v for k, v in metrics.items() if k in compute_metrics(turns)} == compute_metrics(turns)
    for name in ("report.md", "confusion_events.png", "confusion_tasks.png"):
        assert (out / name).stat().st_size > 0
    return metrics


def test_eval_with_the_embedding_router(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["eval", "--dataset", str(FIXTURE), "--router", "embedding", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    metrics = check_run(tmp_path)
    assert metrics["router"] == "embedding"


@pytest.mark.slow
def test_eval_with_the_embedded_model_and_structured_router(tmp_path: Path) -> None:
    args = ["eval", "--dataset", str(FIXTURE), "--model", "embedded", "--router", "structured", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = check_run(tmp_path)
    assert (metrics["router"], metrics["model"], metrics["state"]) == ("structured", "embedded", "own")
    assert metrics["latency_ms"]["p50"] > 0
