"""`task-router fit` end to end on the small fixture, with a word-count encoder instead of MiniLM."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from task_router import TaskCatalog
from task_router._thresholds import load_thresholds
from task_router.cli import _fit as fit_module
from task_router.cli import app
from task_router.routers import make_router
from task_router.routers._base import Prediction
from tests.unit_tests.evaluation.scripted import FIXTURE
from tests.unit_tests.fakes import Scripted, Words, learned_folder


@pytest.fixture
def fake_routers(monkeypatch):
    def build(kind, model, base_url=None, **options):
        if kind == "embedding":
            return make_router("embedding", model=None, encoder=Words(), closing_phrases=(), **options)
        return Scripted(lambda r: Prediction(r.active_task))  # the "strong" stage keeps the active task

    monkeypatch.setattr(fit_module, "build_router", build)


def test_fit_writes_thresholds_catalogue_and_report(tmp_path, fake_routers):
    out, catalog_out, report = tmp_path / "t.json", tmp_path / "catalog.yaml", tmp_path / "report"
    args = [
        "fit",
        "--dataset",
        str(FIXTURE),
        "--router",
        "embedding",
        "--out",
        str(out),
        "--catalog-out",
        str(catalog_out),
    ]
    result = CliRunner().invoke(app, [*args, "--report-dir", str(report), "--records", ":3"])
    assert result.exit_code == 0, result.output
    fitted = load_thresholds(out)
    assert fitted.router == "embedding" and 0.0 <= fitted.none <= 1.0 and fitted.fitted_on == ":3"
    assert "accuracy" in fitted.metrics
    assert set(TaskCatalog.from_file(catalog_out).names) == {"recap", "email", "flight"}
    assert load_thresholds(catalog_out).none == fitted.none
    calibration = json.loads((report / "calibration.json").read_text())
    assert 0.0 <= calibration["ece"] <= 1.0 and calibration["n_turns"] > 0
    assert (report / "reliability.png").stat().st_size > 1000 and (report / "abstention.png").exists()


def test_fit_cascade_writes_both_thresholds(tmp_path, fake_routers):
    out = tmp_path / "c.yaml"
    result = CliRunner().invoke(app, ["fit", "-d", str(FIXTURE), "--router", "cascade", "--out", str(out)])
    assert result.exit_code == 0, result.output
    fitted = load_thresholds(out)
    assert fitted.router == "cascade" and fitted.none <= fitted.escalate
    assert 0.0 <= fitted.metrics["escalated"] <= 1.0


def test_fit_needs_an_output_and_a_valid_slice(tmp_path, fake_routers):
    result = CliRunner().invoke(app, ["fit", "-d", str(FIXTURE)])
    assert result.exit_code != 0 and "--out FILE" in result.output
    result = CliRunner().invoke(app, ["fit", "-d", str(FIXTURE), "--out", str(tmp_path / "t.json"), "--records", "x"])
    assert result.exit_code != 0 and "not a slice" in result.output


def test_fit_help_gives_the_router_one_default(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, ["fit", "--help"])
    assert result.exit_code == 0
    block = result.output[result.output.index("--router") :]
    block = block[: block.index("--out")]  # the --router option's help, up to the next option
    assert block.count("default") == 1 and "the best kind for --model" in block, block


def test_fit_defaults_to_the_default_router_kind_of_the_model(tmp_path, monkeypatch):
    built: list[str] = []

    def build(kind, model, base_url=None, **options):
        built.append(kind)
        return Scripted(lambda r: Prediction(r.active_task))

    monkeypatch.setattr(fit_module, "build_router", build)
    monkeypatch.setattr("task_router.routers.default_router_kind", lambda model: "learned")
    result = CliRunner().invoke(app, ["fit", "-d", str(FIXTURE), "--out", str(tmp_path / "t.json")])
    assert result.exit_code == 0, result.output
    assert built == ["learned"] and load_thresholds(tmp_path / "t.json").router == "learned"


def test_fit_refuses_one_path_for_both_outputs_before_any_work(tmp_path, monkeypatch):
    def no_router(*args, **kwargs):
        raise AssertionError("conflicting options must be refused before any router is built")

    monkeypatch.setattr(fit_module, "build_router", no_router)
    out = tmp_path / "t.yaml"
    result = CliRunner().invoke(
        app, ["fit", "-d", str(FIXTURE), "--out", str(out), "--catalog-out", str(tmp_path / "." / "t.yaml")]
    )
    assert result.exit_code == 2 and "--catalog-out" in result.output and "another path" in result.output
    assert not out.exists()


def test_fit_records_which_learned_model_it_fitted_for(tmp_path, monkeypatch):
    from task_router._learned.model import learned_model_key

    monkeypatch.setattr(fit_module, "build_router", lambda kind, model, base_url=None, **options: Scripted(None))
    mine = learned_folder(tmp_path / "mine")
    fitted = {}
    for name, router in (("builtin", "learned"), ("mine", f"learned:{mine}")):
        out = tmp_path / f"{name}.json"
        result = CliRunner().invoke(app, ["fit", "-d", str(FIXTURE), "--router", router, "--out", str(out)])
        assert result.exit_code == 0, result.output
        fitted[name] = load_thresholds(out)
    assert fitted["builtin"].model_key == learned_model_key(None)  # the shipped model: the same key on every machine
    assert fitted["mine"].model_key == learned_model_key(mine) != fitted["builtin"].model_key
    out = tmp_path / "embedding.json"
    result = CliRunner().invoke(app, ["fit", "-d", str(FIXTURE), "--router", "embedding", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert load_thresholds(out).model_key is None  # only the learned router's thresholds belong to one model


def _dev_set(tmp_path, tasks_by_record: list[list[dict]]):
    """A dev set of one-turn conversations, one per catalogue, each starting its catalogue's first task."""
    lines = [
        json.dumps(
            {
                "id": f"c{i}",
                "tasks": tasks,
                "turns": [{"role": "user", "text": "hello"}],
                "labels": [{"turn_index": 0, "task": tasks[0]["name"].strip(), "event": "START"}],
            }
        )
        for i, tasks in enumerate(tasks_by_record)
    ]
    path = tmp_path / "dev.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_fit_catalog_out_keeps_every_field_of_a_task_the_records_give(tmp_path, fake_routers):
    """A task offered by several records (each record has its own catalogue) is written once, with the examples,
    inputs, tools, display name and instructions that any of them gives: none is lost because an earlier record
    named the task with a description alone."""
    full = {
        "name": "recap",
        "description": "Recap a meeting.",
        "display_name": "Meeting recap",
        "examples": ["recap my call", "summarise the meeting"],
        "inputs": [{"name": "notes", "description": "the meeting notes", "question": "Can you paste the notes?"}],
        "instructions": "Keep it short.",
        "tools": ["search"],
    }
    bare = {"name": "recap", "description": "Recap a meeting.", "examples": ["recap my call", "recap of today"]}
    email = {"name": "email", "description": "Write an email."}
    dataset = _dev_set(tmp_path, [[bare, email], [full, email]])
    catalog_out = tmp_path / "catalog.yaml"
    args = ["fit", "-d", str(dataset), "--router", "embedding", "--catalog-out", str(catalog_out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    written = {task.name: task for task in TaskCatalog.from_file(catalog_out)}
    assert list(written) == ["recap", "email"]
    recap = written["recap"]
    assert recap.examples == ["recap my call", "recap of today", "summarise the meeting"]
    assert [i.question for i in recap.inputs] == ["Can you paste the notes?"]
    assert (recap.display_name, recap.instructions, recap.tools) == ("Meeting recap", "Keep it short.", ["search"])


def test_fit_catalog_out_refuses_tasks_that_do_not_make_one_catalogue_before_any_work(tmp_path, monkeypatch):
    """Two records naming tasks the catalogue cannot tell apart ('Email' / 'email'): fit would write a catalogue
    file that no command can load. It says so, naming the tasks, before routing anything, and writes nothing."""

    def no_router(*args, **kwargs):
        raise AssertionError("a dev set whose tasks make no catalogue must be refused before any router is built")

    monkeypatch.setattr(fit_module, "build_router", no_router)
    dataset = _dev_set(
        tmp_path,
        [[{"name": "email", "description": "Write an email."}], [{"name": "Email", "description": "Send mail."}]],
    )
    out, catalog_out = tmp_path / "t.json", tmp_path / "catalog.yaml"
    args = ["fit", "-d", str(dataset), "--out", str(out), "--catalog-out", str(catalog_out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "--catalog-out" in result.output and "'Email'" in result.output and "'email'" in result.output
    assert "'email' in c0 vs 'Email' in c1" in " ".join(result.output.split())  # where to look in a large set
    assert not out.exists() and not catalog_out.exists()
