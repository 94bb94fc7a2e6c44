"""src/ type-checks clean: ``python -m mypy`` with pyproject.toml's ``[tool.mypy]`` reports no error (issue 26).

mypy keeps its default cache, ``.mypy_cache`` at the repository root (git-ignored): the one this test shares with
your own ``python -m mypy`` runs. Only this test runs mypy, so the test workers (pytest-xdist) never share it. A
cold run takes ~25 s on a busy 2-core machine, a run with the cache ~1-3 s.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT_DIR


def test_mypy_finds_no_type_error_in_src() -> None:
    pytest.importorskip("mypy", reason="mypy is not installed: pip install -e '.[dev]'")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml"],
        cwd=ROOT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"mypy (exit {done.returncode}):\n{done.stdout}{done.stderr}"
