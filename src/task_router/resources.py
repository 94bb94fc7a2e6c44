"""Locate files that have one home at the repository root (prompts/, evaluators/) and ship in the wheel."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
# In the wheel, hatch force-includes prompts/ and evaluators/ inside the package; in a source checkout
# (editable install) they sit two levels up, at the repository root.
_CANDIDATES = (_PACKAGE_DIR, _PACKAGE_DIR.parents[1])


@cache
def resource_dir(name: str) -> Path:
    for base in _CANDIDATES:
        if (base / name).is_dir():
            return base / name
    raise FileNotFoundError(
        f"cannot find the '{name}' folder of task_router (looked in {[str(b) for b in _CANDIDATES]}): "
        "reinstall the package (pip install langgraph-task-router) or run from a full source checkout"
    )


def resource_path(name: str, *parts: str) -> Path:
    return resource_dir(name).joinpath(*parts)


def read_prompt(filename: str) -> str:
    """The text of a prompt file under prompts/."""
    return resource_path("prompts", filename).read_text(encoding="utf-8")
