"""The CLI's one error boundary: bad input to any command prints one line `error: <what>; <fix>` and exits 2;
`--debug` shows the traceback; a bug (not the user's input) exits 1, also in one line. No model is loaded: every
case fails before one would be."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from task_router.cli import app
from task_router.cli._base import FAILURE_EXIT, USAGE_EXIT

DEEP_JSON = "[" * 5000 + "]" * 5000


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    made = {
        "binary": (b"\x00\x01\x02\xff binary", "bin.json"),
        "deep": (DEEP_JSON.encode(), "deep.json"),
        "bigint": (b'[{"role": "user", "content": ' + b"9" * 5000 + b"}]", "bigint.json"),
        "conversation": (b'[{"role": "user", "content": "recap my meeting"}]', "conversation.json"),
        "file": (b"not a folder", "a_file"),
    }
    paths = {}
    for key, (data, name) in made.items():
        paths[key] = tmp_path / name
        paths[key].write_bytes(data)
    paths["tmp"] = tmp_path
    return paths


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def assert_one_line_error(code: int, output: str, *expected: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == USAGE_EXIT, output
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert "Traceback" not in output
    for text in expected:
        assert text in lines[0], output


CASES = [
    # (command line with {placeholders}, texts the one line must hold)
    ("route --conversation {binary}", ["not UTF-8 text", "a conversation is a JSON list"]),
    ("route --conversation {deep}", ["nested more than 64 levels", "a conversation is a JSON list"]),
    ("route --conversation {bigint}", ["5,000 digits", "a conversation is a JSON list"]),
    ("route --conversation {conversation} --catalog {deep}", ["--catalog", "nested more than", "'description'"]),
    ("route --conversation {conversation} --catalog {binary}", ["not UTF-8 text", "'description'"]),
    ("route --conversation {tmp}/missing.json", ["No such file", "a conversation is a JSON list"]),
    (
        "route --conversation {conversation} --router structured --model hf:{tmp}/nope",
        ["does not exist", "hf:<folder>"],
    ),
    ("route --conversation {conversation} --router structured --model qlora:{tmp}/nope", ["does not exist", "train"]),
    ("route --conversation {conversation} --router structured --model openai:gpt-4o-mini", ["OPENAI_API_KEY"]),
    ("route --conversation {conversation} --router nonsense", ["unknown router kind", "choose one of"]),
    ("route", ["Missing option '--conversation'", "--help"]),
    ("eval --dataset {deep} --out {tmp}/run", ["nested more than", "each line must be one JSON object"]),
    ("eval --dataset {binary} --out {tmp}/run", ["{binary}", ".jsonl"]),
    ("eval --dataset {tmp} --out {tmp}/run", ["dataset {tmp} is a folder", "give the path of a file"]),
    ("eval --dataset {conversation} --out {file}", ["--out", "is a file", "give a folder"]),
    ("eval --dataset {conversation} --out {file}/sub", ["--out", "which is a file", "under a folder"]),
    ("fit --dataset {deep} --out {tmp}/t.json", ["nested more than"]),
    ("fit --dataset {conversation} --out {file}/t.json", ["--out", "which is a file"]),
    ("fit --dataset {conversation} --out {tmp}/t.json --report-dir {file}", ["--report-dir", "is a file"]),
    ("train --data {deep} --out {file}", ["--out", "is a file"]),
    ("train --data {deep} --out {file}/x", ["--out", "which is a file"]),
    ("bench --out {file}", ["--out", "is a file"]),
    ("generate --catalog {deep} --out {tmp}/g.jsonl", ["--catalog", "nested more than"]),
    ("generate --catalog {bigint} --out {tmp}/g.jsonl", ["--catalog", "5,000 digits"]),
    ("review {deep} --export {tmp}/e.jsonl", ["nested more than"]),
    ("review {conversation} --export {file}/e.jsonl", ["--export", "which is a file"]),
    ("chat --db {binary}", ["thread database", "not a SQLite database", "--db"]),
    ("chat --db {file}/threads.sqlite", ["thread database", "--db"]),
    ("chat --db {tmp}", ["is a folder", "--db"]),
    ("chat --catalog {deep}", ["--catalog", "nested more than"]),
]


@pytest.mark.parametrize(("command", "expected"), CASES, ids=[c[0].split()[0] + str(i) for i, c in enumerate(CASES)])
def test_bad_input_gives_one_line_and_exit_2(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch, command: str, expected: list[str]
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    names = {key: str(path) for key, path in files.items()}
    code, output = run(*command.format(**names).split())
    assert_one_line_error(code, output, *(text.format(**names) for text in expected))


def test_read_only_thread_database_gives_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "threads.sqlite"
    sqlite3.connect(db).close()
    connect = sqlite3.connect  # tests run as root, for whom chmod is no barrier: open the file read-only instead
    monkeypatch.setattr(
        "task_router.persistence.sqlite3.connect",
        lambda path, **kw: connect(f"file:{path}?mode=ro", uri=True, **kw),
    )
    code, output = run("chat", "--db", str(db))
    assert_one_line_error(code, output, "thread database", "readonly", "writable SQLite file")


def test_another_programs_checkpoints_table_is_not_a_thread_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the thread database must be refused before any model is loaded")

    monkeypatch.setattr("task_router.cli._chat.build_router", no_model)
    db = tmp_path / "other.sqlite"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE checkpoints (id INTEGER PRIMARY KEY, data TEXT)")
    code, output = run("chat", "--db", str(db))
    assert_one_line_error(code, output, f"thread database {db}", "not a task-router thread database", "--db")
    assert "OperationalError" not in output


def test_a_bug_is_one_line_with_exit_1_and_debug_shows_the_traceback(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise AttributeError("'NoneType' object has no attribute 'x'")

    monkeypatch.setattr("task_router.cli._eval.build_router", broken)
    code, output = run("route", "--conversation", str(files["conversation"]))
    assert code == FAILURE_EXIT and output.count("\n") == 1
    assert output.startswith("error: AttributeError") and "--debug" in output
    result = CliRunner().invoke(app, ["--debug", "route", "--conversation", str(files["conversation"])])
    assert isinstance(result.exception, AttributeError)  # not swallowed: the traceback is shown
    monkeypatch.setenv("TASK_ROUTER_DEBUG", "1")
    assert isinstance(
        CliRunner().invoke(app, ["route", "--conversation", str(files["conversation"])]).exception, AttributeError
    )


def test_debug_option_is_listed() -> None:
    code, output = run("--help")
    assert code == 0 and "--debug" in output
