"""Package data has one home, inside the package: no `__path__` trick, no symlinks, the same files in every install."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path

import pytest

import task_router
import task_router.evaluators
from task_router.resources import read_prompt

PACKAGE = Path(task_router.__file__).resolve().parent
ROOT = PACKAGE.parents[1]


def test_the_package_path_is_the_package_folder_only() -> None:
    assert [Path(p).resolve() for p in task_router.__path__] == [PACKAGE]
    for stray in ("task_router.tests", "task_router.src", "task_router.notebooks"):  # the repository root's folders
        assert importlib.util.find_spec(stray) is None, stray


def test_evaluators_and_prompts_live_inside_the_package() -> None:
    assert Path(task_router.evaluators.__file__).resolve().parent == PACKAGE / "evaluators"
    prompts = sorted(p.name for p in files("task_router").joinpath("prompts").iterdir() if p.name.endswith(".yaml"))
    assert {"structured.yaml", "scoring.yaml", "task.yaml", "rerank.yaml", "generator.yaml"} <= set(prompts)
    assert not (ROOT / "prompts").exists() and not (ROOT / "evaluators").exists()


def test_a_missing_prompt_names_the_shipped_ones() -> None:
    with pytest.raises(FileNotFoundError, match=r"no prompt file 'nope.yaml'.*'structured.yaml'"):
        read_prompt("nope.yaml")


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_the_repository_tracks_no_symlinks() -> None:
    """hatchling's sdist keeps a symlink's copy of a folder and drops the real one: no symlinks into the package."""
    listed = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    links = [line.split("\t", 1)[1] for line in listed.splitlines() if line.startswith("120000 ")]
    assert not links, f"symlinks break the sdist's package data: {links}"
