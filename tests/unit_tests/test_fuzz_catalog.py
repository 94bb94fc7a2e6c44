"""Hypothesis fuzzing of the catalogue loader: any file or records give a TaskCatalog or a CatalogError."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from task_router import CatalogError, TaskCatalog

FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-catalog-"))

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
names = st.sampled_from(["recap", "email", "a.b-c", "NONE", "my task", "", " ", "x" * 300]) | st.text(max_size=20)
descriptions = st.sampled_from(["Recap a meeting.", "", "   ", "d" * 2001, "ünïcødé 🚀"]) | st.text(max_size=60)
task_records = st.fixed_dictionaries(
    {},
    optional={
        "name": names | scalars,
        "description": descriptions | scalars,
        "display_name": st.text(max_size=20) | scalars,
        "examples": st.lists(st.text(max_size=20), max_size=3) | scalars,
        "inputs": st.lists(st.fixed_dictionaries({"name": st.text(max_size=8), "description": st.text(max_size=8)}))
        | scalars,
        "extra_field": scalars,
    },
)
records = st.lists(task_records | scalars, max_size=5)
documents = (
    records | st.fixed_dictionaries({"tasks": records}) | scalars | st.dictionaries(st.text(max_size=5), scalars)
)


def _check_catalogue(catalog: TaskCatalog) -> None:
    assert len(catalog) >= 1
    assert len(set(catalog.names)) == len(catalog.names)
    assert all(task.name.strip() and task.description.strip() for task in catalog)


@FUZZ
@given(records)
def test_from_records_builds_a_catalogue_or_raises_catalog_error(data: list) -> None:
    try:
        _check_catalogue(TaskCatalog.from_records(data))
    except CatalogError as error:
        assert str(error)


@FUZZ
@given(documents, st.sampled_from([".yaml", ".json", ".yml"]))
def test_from_file_on_generated_documents(document: object, suffix: str) -> None:
    text = json.dumps(document) if suffix == ".json" else yaml.safe_dump(document, allow_unicode=True)
    _load(text.encode("utf-8"), suffix)


@FUZZ
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode), st.sampled_from([".yaml", ".json"]))
def test_from_file_on_arbitrary_bytes(data: bytes, suffix: str) -> None:
    _load(data, suffix)


def _load(data: bytes, suffix: str) -> None:
    path = FOLDER / f"catalog{suffix}"
    path.write_bytes(data)
    try:
        _check_catalogue(TaskCatalog.from_file(path))
    except CatalogError as error:
        assert str(path) in str(error)  # every error says which file to fix
