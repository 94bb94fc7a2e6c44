"""The public API is the table of docs/contract.md ("Public API"): each public module's ``__all__`` is exactly its
row (as langchain-openai pins its own, with the documentation as the one copy). Adding or removing a public name is
a decision: change the table with it."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import task_router

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contract.md"


def documented_api() -> dict[str, list[str]]:
    """{module: its names, sorted} from the Public API table of docs/contract.md (the backquoted identifiers of a
    row's second cell)."""
    lines = CONTRACT.read_text(encoding="utf-8").splitlines()
    start = lines.index("| module | names |") + 2
    api = {}
    for line in lines[start:]:
        if not line.startswith("| `"):
            break
        module, names = line.split("|")[1:3]
        api[module.strip().strip("`")] = sorted(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", names))
    return api


EXPECTED_ALL = documented_api()["task_router"]


def test_all_imports() -> None:
    assert sorted(task_router.__all__) == EXPECTED_ALL


@pytest.mark.parametrize("module_name", sorted(documented_api()))
def test_every_documented_module_exports_its_row(module_name: str) -> None:
    assert sorted(importlib.import_module(module_name).__all__) == documented_api()[module_name]


def test_every_public_name_resolves() -> None:
    for name in task_router.__all__:
        assert getattr(task_router, name) is not None, name


def test_router_kinds_are_the_documented_ones() -> None:
    assert sorted(task_router.ROUTER_KINDS) == sorted(
        ["structured", "zero-shot", "few-shot-cot", "react", "scoring", "embedding", "learned", "cascade", "decision"]
    )
