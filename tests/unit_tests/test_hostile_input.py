"""Issue 16: the crash classes an outside fuzz run found, each reproduced once and checked to be a clear error now.

Catalogue and conversation files (nesting, numbers, sizes, argument types), conversations (tool messages, huge
messages, a catalogue that is not one), model output (huge answers, provider numbers out of range), catalogue
edits while a decision is made.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from task_router import CatalogError, TaskCatalog
from task_router.calibration import load_thresholds
from task_router.evaluation import DatasetError, load_dataset
from task_router.io_limits import MAX_DEPTH, MAX_INT_DIGITS, parse_document, structure_problem
from task_router.routers.render import load_conversation_file

CATALOG_GUIDANCE = "each with a 'name' and a 'description'"  # every catalogue-file error says what a valid one is


# -- 1. files: nesting, numbers, types ------------------------------------------------------------------------------
DEEP = 5_000


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("flow.json", "[" * DEEP + "]" * DEEP, f"nested more than {MAX_DEPTH} levels"),
        ("object.json", '{"a":' * DEEP + "1" + "}" * DEEP, f"nested more than {MAX_DEPTH} levels"),
        ("flow.yaml", "[" * DEEP + "]" * DEEP, f"nested more than {MAX_DEPTH} levels"),
        ("block.yaml", "".join("  " * i + "-\n" for i in range(1000)), f"nested more than {MAX_DEPTH} levels"),
        ("inline_block.yaml", "- " * 100_000 + "x\n", f"nested more than {MAX_DEPTH} levels"),
        ("aliases.yaml", "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 200)), "nested"),
        (
            "laughs.yaml",
            "a: &a [lol]\n"
            + "".join(
                f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefghij", "bcdefghijk", strict=True)
            ),
            "expands to",
        ),
        ("cycle.yaml", "&a [*a]", "refers to itself"),
        ("bigint.json", '[{"name": "a", "description": "b", "n": ' + "9" * 5000 + "}]", "5,000 digits"),
        ("bigint.yaml", "- {name: a, description: b, n: " + "9" * 5000 + "}", "5,000 digits"),
        ("date.yaml", "- {name: a, description: 2001-13-45}", "cannot be read (month must be in 1..12)"),
        ("syntax.json", '[{"name": "a", "description": }]', "not valid JSON (Expecting value at line 1, column 31)"),
        ("syntax.yaml", "- name: a\n  description: [x", "not valid YAML"),
        ("binary.yaml", "\x00\x01\x02 garbage", "not UTF-8 text"),
        ("folder", None, "is a folder"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 30 else "",
)
def test_hostile_catalogue_files_give_a_catalog_error_with_guidance(
    tmp_path: Path, name: str, text: str | None, problem: str
) -> None:
    path = tmp_path / name
    if text is None:
        path.mkdir()
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        TaskCatalog.from_file(path)
    message = str(info.value)
    assert problem in message and str(path) in message and CATALOG_GUIDANCE in message
    assert len(message) < 1000  # the parser's own message is wrapped, not dumped


@pytest.mark.parametrize("value", [None, 7, 3.5, ["a.yaml"], b"", ""])
def test_catalog_from_file_with_a_wrong_argument_type_says_what_it_needs(value: object) -> None:
    with pytest.raises(CatalogError, match="must be a file path") as info:
        TaskCatalog.from_file(value)  # type: ignore[arg-type]
    assert CATALOG_GUIDANCE in str(info.value)


@pytest.mark.parametrize("value", [None, 7, "recap", {"name": "a", "description": "b"}])
def test_catalog_from_records_with_a_wrong_argument_type_says_what_it_needs(value: object) -> None:
    with pytest.raises(CatalogError, match="must be a list of tasks") as info:
        TaskCatalog.from_records(value)  # type: ignore[arg-type]
    assert "'name' and a 'description'" in str(info.value)


def test_oversized_file_is_refused_before_it_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("task_router.io_limits.MAX_FILE_BYTES", 1000)
    import task_router.io_limits as limits

    path = tmp_path / "big.json"
    path.write_text(json.dumps([{"name": "a", "description": "x" * 2000}]))
    with pytest.raises(ValueError, match="larger than"):
        limits.read_text(path, what="file", hint="h", max_bytes=limits.MAX_FILE_BYTES)


def test_a_valid_catalogue_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "tasks:\n  - name: recap\n    description: Recap a meeting.\n    inputs:\n"
        "      - {name: notes, description: the notes}\n",
        encoding="utf-8",
    )
    assert TaskCatalog.from_file(path).names == ["recap"]
    assert TaskCatalog.demo().names  # the shipped catalogue passes the limits


def test_structure_check_counts_shared_values_at_every_use() -> None:
    leaf: list = ["x"]
    deep, wide = {"a": leaf, "b": leaf}, leaf
    for _ in range(MAX_DEPTH + 5):
        deep = {"a": deep, "b": leaf}  # a chain of mappings: deeper than the limit
    for _ in range(30):
        wide = [wide, wide]  # 30 objects that expand to 2**30 values
    assert "nested more than" in (structure_problem(deep) or "")
    assert "expands to more than" in (structure_problem(wide) or "")
    assert structure_problem({"a": [1, {"b": [2]}]}) is None
    with pytest.raises(ValueError, match="digits"):
        parse_document("9" * (MAX_INT_DIGITS + 1), fmt="json", source="s", hint="h")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * DEEP + "]" * DEEP, "nested more than"),
        ('[{"role": "user", "content": ' + "9" * 5000 + "}]", "5,000 digits"),
        ("\x00\x01binary", "not UTF-8 text"),
        ("[]", "holds no messages"),
        ('{"messages": [{"role": "user", "content": "x"}], "active_task": 3}', "active_task must be a task name"),
        ("not json", "not valid JSON"),
    ],
)
def test_hostile_conversation_files_give_a_value_error_with_guidance(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "conversation.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=problem) as info:
        load_conversation_file(path)
    assert "a conversation is a JSON list of messages" in str(info.value)


@pytest.mark.parametrize(
    ("line", "problem"),
    [("[" * DEEP + "]" * DEEP, "nested more than"), ('{"id": ' + "9" * 5000 + "}", "5,000 digits")],
)
def test_hostile_dataset_records_give_a_dataset_error(tmp_path: Path, line: str, problem: str) -> None:
    for path in (tmp_path / "d.jsonl", tmp_path / "d.jsonl.gz"):
        data = line.encode()
        path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
        with pytest.raises(DatasetError, match=problem) as info:
            load_dataset(path)
        assert f"{path}:1" in str(info.value) and "each line must be one JSON object" in str(info.value)


def test_hostile_thresholds_file_gives_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("[" * DEEP + "]" * DEEP)
    with pytest.raises(ValueError, match=r"nested more than.*task-router fit"):
        load_thresholds(path)
    path.write_text("router: embedding\nnone: 7\n")
    with pytest.raises(ValueError, match="none: Input should be less than or equal to 1"):
        load_thresholds(path)
