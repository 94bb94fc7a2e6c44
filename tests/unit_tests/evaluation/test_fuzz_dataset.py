"""Hypothesis fuzzing of the dataset loader: any file gives validated records or a DatasetError."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from task_router._catalog import NONE_LABEL
from task_router.evaluation import DatasetError, load_dataset

FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-dataset-"))

scalars = st.none() | st.booleans() | st.integers(-3, 5) | st.text(max_size=12)
turns = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", 3]), "text": st.text(max_size=12)}),
    max_size=4,
)
labels = st.lists(
    st.fixed_dictionaries(
        {
            "turn_index": st.integers(-1, 5) | scalars,
            "task": st.sampled_from(["recap", NONE_LABEL, "other"]) | scalars,
            "event": st.sampled_from(["START", "CONTINUE", "SWITCH", "END", "NONE", "start"]) | scalars,
        }
    ),
    max_size=4,
)
tasks = st.lists(
    st.fixed_dictionaries({"name": st.sampled_from(["recap", "email", "bad name", ""]), "description": scalars}),
    max_size=3,
)
record = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=6) | scalars,
        "tasks": tasks | scalars,
        "turns": turns | scalars,
        "labels": labels,
    },
)
line = record.map(json.dumps) | scalars.map(json.dumps) | st.text(max_size=40)


@FUZZ
@given(st.lists(line, max_size=4), st.booleans(), st.sampled_from([None, 1, 2]))
def test_load_dataset_gives_records_or_a_dataset_error(lines: list[str], gz: bool, limit: int | None) -> None:
    text = "\n".join(lines)
    path = FOLDER / ("data.jsonl.gz" if gz else "data.jsonl")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    try:
        records = load_dataset(path, limit=limit)
    except DatasetError as error:
        assert str(path) in str(error)  # every error names the file to fix
        return
    assert records and (limit is None or len(records) <= limit)
    for rec in records:
        for label in rec.labels:
            assert rec.turns[label.turn_index].role == "user"
        rec.gold_active_tasks()


@FUZZ
@given(st.binary(max_size=200), st.booleans())
def test_load_dataset_on_arbitrary_bytes(data: bytes, gz: bool) -> None:
    path = FOLDER / ("bytes.jsonl.gz" if gz else "bytes.jsonl")
    path.write_bytes(data)
    try:
        load_dataset(path)
    except DatasetError as error:
        assert str(path) in str(error)
