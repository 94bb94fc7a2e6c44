"""Package data has one home: prompts/ and evaluators/ at the repository root, reached through the package in every
install (editable, wheel, wheel built from the sdist), with no `__path__` trick."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tarfile
import zipfile
from importlib.resources import files
from pathlib import Path

import pytest

import task_router
import task_router.evaluators
from task_router.resources import read_prompt

PACKAGE = Path(task_router.__file__).resolve().parent
ROOT = PACKAGE.parents[1]
DATA = ("prompts", "evaluators")
checkout = pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="needs a source checkout")


def test_the_package_path_is_the_package_folder_only() -> None:
    assert [Path(p).resolve() for p in task_router.__path__] == [PACKAGE]
    for stray in ("task_router.tests", "task_router.src", "task_router.notebooks"):  # the repository root's folders
        assert importlib.util.find_spec(stray) is None, stray


def test_evaluators_and_prompts_are_package_data() -> None:
    assert Path(task_router.evaluators.__file__).parent == PACKAGE / "evaluators"
    prompts = sorted(p.name for p in files("task_router").joinpath("prompts").iterdir() if p.name.endswith(".yaml"))
    assert {"structured.yaml", "scoring.yaml", "task.yaml", "rerank.yaml", "generator.yaml"} <= set(prompts)


@checkout
def test_in_a_checkout_the_root_folders_are_the_one_home() -> None:
    for name in DATA:
        link = PACKAGE / name
        assert link.is_symlink() and link.resolve() == ROOT / name, name
        assert (ROOT / name).is_dir() and not (ROOT / name).is_symlink(), name


def test_a_missing_prompt_names_the_shipped_ones() -> None:
    with pytest.raises(FileNotFoundError, match=r"no prompt file 'nope.yaml'.*'structured.yaml'"):
        read_prompt("nope.yaml")


@checkout
def test_wheel_and_the_wheel_built_from_the_sdist_carry_every_file(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    expected = {
        f"task_router/{name}/{path.relative_to(ROOT / name)}"
        for name in DATA
        for path in (ROOT / name).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }

    def build(kind: str, source: Path, out: Path) -> Path:
        code = f"import hatchling.build as b; print(b.build_{kind}({str(out)!r}))"
        done = subprocess.run([sys.executable, "-c", code], cwd=source, capture_output=True, text=True, check=True)
        return out / done.stdout.strip().splitlines()[-1]

    wheel = build("wheel", ROOT, tmp_path / "wheel")
    assert expected <= set(zipfile.ZipFile(wheel).namelist())
    sdist = build("sdist", ROOT, tmp_path / "sdist")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    rebuilt = build("wheel", unpacked, tmp_path / "rebuilt")
    assert expected <= set(zipfile.ZipFile(rebuilt).namelist())
