"""Every notebook runs top to bottom (nbclient, kernel python3), and is stored without outputs."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
import pytest

from tests.conftest import ROOT_DIR

NOTEBOOKS = sorted((ROOT_DIR / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 900


def test_there_are_notebooks_and_they_are_stored_without_outputs() -> None:
    assert {p.stem for p in NOTEBOOKS} >= {
        "01_quickstart",
        "02_compare_routers",
        "03_agent_middleware",
        "04_langsmith_evaluation",
    }
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: clear its outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient import NotebookClient

    for name in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"):
        monkeypatch.delenv(name, raising=False)  # the kernel inherits this environment: offline
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(path, as_version=4)
    client = NotebookClient(
        book, timeout=CELL_TIMEOUT_S, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    started = time.perf_counter()
    client.execute()
    print(f"{path.name}: {time.perf_counter() - started:.0f} s")
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert errors == []
