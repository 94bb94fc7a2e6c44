"""Every command rejects bad input files before loading any model: a model factory that is called fails the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from task_router.cli import app
from tests.unit_tests.evaluation.scripted import FIXTURE


@pytest.fixture(autouse=True)
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def loaded(*args: object, **kwargs: object) -> None:
        raise AssertionError("a model was loaded before the input was validated")

    for target in (
        "task_router.routers.make_router",
        "task_router.models.load_chat_model",
        "task_router.models._local.load_local_model",
        "task_router.models._local.load_base",  # the scoring trainer's base model
        "task_router.cli._train._train_learned",  # (patched here: importing the trainers costs seconds of torch)
    ):
        monkeypatch.setattr(target, loaded)
    monkeypatch.setenv("COLUMNS", "200")


def fails(*args: str, fix: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert "a model was loaded before the input was validated" not in result.output, result.output
    assert result.exit_code == 2, result.output  # a usage error, naming the fix
    assert fix in " ".join(result.output.replace("│", " ").split()), result.output


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {
        "ends_with_assistant": [
            {"role": "user", "content": "Recap my meeting"},
            {"role": "assistant", "content": "Sure"},
        ],
        "unknown_role": [{"role": "wizard", "content": "hi"}],
        "unknown_active": {"messages": [{"role": "user", "content": "hi"}], "active_task": "not_a_task"},
        "ok": [{"role": "user", "content": "Recap my meeting"}],
    }
    out = {name: tmp_path / f"{name}.json" for name in paths}
    for name, data in paths.items():
        out[name].write_text(json.dumps(data), encoding="utf-8")
    out["bad_json"] = tmp_path / "bad.json"
    out["bad_json"].write_text("[{oops", encoding="utf-8")
    out["bad_catalog"] = tmp_path / "catalog.yaml"
    out["bad_catalog"].write_text("- {name: my task, description: x}\n", encoding="utf-8")
    out["bad_dataset"] = tmp_path / "bad.jsonl"
    out["bad_dataset"].write_text("{oops\n", encoding="utf-8")
    return out


def test_route_validates_the_conversation_and_catalogue_first(files: dict[str, Path]) -> None:
    fails("route", "--conversation", str(files["ends_with_assistant"]), fix="must end with a user message")
    fails("route", "--conversation", str(files["unknown_role"]), fix="cannot read the conversation")
    fails("route", "--conversation", str(files["unknown_active"]), fix="active_task 'not_a_task' is not in")
    fails("route", "--conversation", str(files["bad_json"]), fix="not valid JSON")
    fails("route", "--conversation", str(files["ok"]), "--catalog", str(files["bad_catalog"]), fix="'my_task'")


def test_chat_eval_fit_generate_train_validate_their_files_first(files: dict[str, Path], tmp_path: Path) -> None:
    fails("chat", "--catalog", str(files["bad_catalog"]), fix="'my_task'")
    fails("chat", "--db", str(tmp_path), fix="a writable SQLite file")  # a folder, not a database file
    fails("eval", "--dataset", str(files["bad_dataset"]), fix="not valid JSON")
    fails("fit", "--dataset", str(files["bad_dataset"]), "--out", str(tmp_path / "t.json"), fix="not valid JSON")
    out = str(tmp_path / "gen.jsonl")
    fails("generate", "--out", out, "--catalog", str(files["bad_catalog"]), fix="'my_task'")
    for router in ("learned", "scoring"):
        missing = str(tmp_path / "missing.jsonl")
        fails(
            "train", "--router", router, "--data", missing, "--out", str(tmp_path / "m"), fix="missing.jsonl is missing"
        )
    fails(
        "train", "--router", "scoring", "--data", str(FIXTURE), "--data", str(tmp_path), "--out", "x", fix="is a folder"
    )


def test_a_valid_conversation_reaches_the_router(files: dict[str, Path]) -> None:
    """The guard works: with valid input, route goes on to build the router (and meets the fake factory)."""
    result = CliRunner().invoke(app, ["route", "--conversation", str(files["ok"]), "--router", "embedding"])
    # the CLI's error boundary turns the fake factory's AssertionError into one line and exit status 1
    assert result.exit_code == 1 and "a model was loaded before the input was validated" in result.output


def test_an_unknown_active_task_in_a_large_catalogue_names_the_fix_and_the_near_name(tmp_path: Path) -> None:
    # ~120 tasks: the list of names is longer than an error line, and must not push the fix out of it
    tasks = [{"name": f"task_number_{i:03d}", "description": f"Do thing number {i}."} for i in range(120)]
    tasks.append({"name": "hotel_booking", "description": "Book a hotel room."})
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(tasks), encoding="utf-8")
    conversation = tmp_path / "conversation.json"
    conversation.write_text(
        json.dumps({"messages": [{"role": "user", "content": "hi"}], "active_task": "hotel-booking"}), encoding="utf-8"
    )
    args = ("route", "--catalog", str(catalog), "--conversation", str(conversation))
    fails(*args, fix="give one of its task names or null")
    fails(*args, fix="did you mean 'hotel_booking'")
