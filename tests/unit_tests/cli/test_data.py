"""`task-router data` on the tiny copy of the public releases: files written, the printed counts, errors."""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from task_router.cli import app
from task_router.cli._base import USAGE_EXIT
from task_router.evaluation import load_dataset
from tests.conftest import FIXTURES

RELEASES = FIXTURES / "public_releases"
SGD = RELEASES / "dstc8-schema-guided-dialogue"
DATA_FULL = RELEASES / "oos-eval" / "data" / "data_full.json"


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")  # file paths on one table line


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["data", *args])
    return result.exit_code, result.output


def printed_counts(output: str) -> dict[str, tuple[int, int]]:
    """file name -> (records, labelled turns) from the printed table."""
    rows = re.findall(r"(\S+\.jsonl\.gz)\s*│\s*(\d+)\s*│\s*(\d+)", output)
    return {Path(path).name: (int(records), int(turns)) for path, records, turns in rows}


def file_counts(path: Path) -> tuple[int, int]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        records = [json.loads(line) for line in handle]
    return len(records), sum(len(record["labels"]) for record in records)


def test_builds_every_file_and_prints_their_counts(tmp_path: Path) -> None:
    code, output = run("--sgd", str(RELEASES), "--clinc", str(DATA_FULL), "--out", str(tmp_path))
    assert code == 0, output
    counts = printed_counts(output)
    assert counts == {
        "sgd_train.jsonl.gz": (2, 8),
        "sgd_dev.jsonl.gz": (2, 9),
        "clinc_dev.jsonl.gz": (6, 6),
        "clinc_test.jsonl.gz": (7, 7),
        "sgd_digress_dev.jsonl.gz": (2, 11),
    }
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(counts)
    for name, expected in counts.items():
        assert file_counts(tmp_path / name) == expected
        assert len(load_dataset(tmp_path / name)) == expected[0]
    assert "domain" not in output  # domains.json was found next to data_full.json: no note


def test_written_files_follow_the_users_umask(tmp_path: Path) -> None:
    import os

    previous = os.umask(0o022)
    try:
        code, output = run("--sgd", str(RELEASES), "--clinc", str(DATA_FULL), "--out", str(tmp_path / "data"))
    finally:
        os.umask(previous)
    assert code == 0, output
    modes = {path.name: path.stat().st_mode & 0o777 for path in (tmp_path / "data").iterdir()}
    assert set(modes.values()) == {0o644}, modes  # not private to their owner (a temporary file's 0600)


def test_sizes_and_seed(tmp_path: Path) -> None:
    args = ["--sgd", str(SGD), "--clinc", str(DATA_FULL), "--limit", "1", "--train-limit", "1"]
    code, output = run(*args, "--clinc-in-scope", "2", "--clinc-oos", "1", "--seed", "7", "--out", str(tmp_path))
    assert code == 0, output
    assert {name: records for name, (records, _) in printed_counts(output).items()} == {
        "sgd_train.jsonl.gz": 1,
        "sgd_dev.jsonl.gz": 1,
        "clinc_dev.jsonl.gz": 3,
        "clinc_test.jsonl.gz": 3,
        "sgd_digress_dev.jsonl.gz": 1,
    }
    assert "seed 7" in output


def test_clinc_only_without_domains(tmp_path: Path) -> None:
    shutil.copy(DATA_FULL, tmp_path / "data_full.json")
    code, output = run("--clinc", str(tmp_path / "data_full.json"), "--out", str(tmp_path / "out"))
    assert code == 0, output
    assert "no domains.json" in output
    assert set(printed_counts(output)) == {"clinc_dev.jsonl.gz", "clinc_test.jsonl.gz"}
    record = load_dataset(tmp_path / "out" / "clinc_dev.jsonl.gz")[0]
    assert all("domain)" not in task["description"] for task in record.tasks)


def assert_one_line_error(code: int, output: str, *expected: str) -> None:
    lines = [line for line in output.splitlines() if line.strip()]
    assert code == USAGE_EXIT, output
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    for text in expected:
        assert text in lines[0], output


SGD_FIX = "give the folder of a clone of google-research-datasets/dstc8-schema-guided-dialogue"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["give --sgd FOLDER", "and/or --clinc FILE"]),
        (["--sgd", "{tmp}/missing"], ["--sgd", "does not exist", SGD_FIX]),
        (["--sgd", "{tmp}"], ["--sgd", "has no train/schema.json", SGD_FIX]),
        (["--sgd", str(SGD / "dev")], ["--sgd", "is one split's folder: give its parent", SGD_FIX]),
        (["--clinc", "{tmp}/missing.json"], ["--clinc", "does not exist", "data_full.json from clinc/oos-eval"]),
        (["--clinc", str(FIXTURES / "eval_small.jsonl")], ["--clinc", "not valid JSON", "clinc/oos-eval"]),
        (["--clinc", str(DATA_FULL), "--domains", str(DATA_FULL)], ["--domains", "domains.json from clinc/oos-eval"]),
        (["--sgd", str(SGD), "--out", str(DATA_FULL)], ["--out", "is a file; give a folder"]),
    ],
)
def test_bad_input_is_one_line_naming_the_fix(tmp_path: Path, args: list[str], expected: list[str]) -> None:
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "out")]
    code, output = run(*args)
    assert_one_line_error(code, output, *expected)
    assert not (tmp_path / "out").exists()  # nothing written


def test_a_failing_split_writes_nothing_and_keeps_the_earlier_files(tmp_path: Path) -> None:
    """All files or none: sgd_train is converted, then the dev split fails; no file of this run is left (not even
    the folders it created), and the files already in --out are untouched."""
    release = tmp_path / "sgd"
    shutil.copytree(SGD, release)
    (release / "dev" / "dialogues_001.json").write_text("{not json")
    code, output = run("--sgd", str(release), "--out", str(tmp_path / "fresh" / "out"))
    assert_one_line_error(code, output, "--sgd", "not valid JSON")
    assert not (tmp_path / "fresh").exists()
    out = tmp_path / "out"
    out.mkdir()
    (out / "sgd_train.jsonl.gz").write_bytes(b"an earlier build")
    (out / "notes.txt").write_text("mine")
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    code, output = run("--sgd", str(release), "--out", str(out))
    assert_one_line_error(code, output, "--sgd", "not valid JSON")
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before
