"""Package data has one home: prompts/ and evaluators/ at the repository root, package data in the wheel (and in the
wheel built from the sdist), read from the root in a checkout: no symlink, no `__path__` trick; the wheel ships
py.typed."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

import task_router
import task_router.evaluators
from task_router._resources import DATA_FOLDERS, checkout_root, data_folder, read_prompt

PACKAGE = Path(task_router.__file__).resolve().parent
ROOT = PACKAGE.parents[1]
DATA = DATA_FOLDERS
checkout = pytest.mark.skipif(checkout_root() is None, reason="needs a source checkout")


def test_the_package_path_is_the_package_folder_only() -> None:
    assert [Path(p).resolve() for p in task_router.__path__] == [PACKAGE]
    for stray in ("task_router.tests", "task_router.src", "task_router.notebooks"):  # the repository root's folders
        assert importlib.util.find_spec(stray) is None, stray


def test_evaluators_and_prompts_are_package_data() -> None:
    assert Path(task_router.evaluators.__file__).parent == Path(str(data_folder("evaluators")))
    prompts = sorted(p.name for p in data_folder("prompts").iterdir() if p.name.endswith(".yaml"))
    assert {"structured.yaml", "scoring.yaml", "task.yaml", "rerank.yaml", "generator.yaml"} <= set(prompts)


@checkout
def test_in_a_checkout_the_root_folders_are_the_one_home() -> None:
    for name in DATA:
        assert not (PACKAGE / name).exists() and not (PACKAGE / name).is_symlink(), name  # no copy, no symlink
        assert (ROOT / name).is_dir() and not (ROOT / name).is_symlink(), name
        assert Path(str(data_folder(name))) == ROOT / name, name
    assert Path(task_router.evaluators.__file__) == ROOT / "evaluators" / "__init__.py"
    assert Path(importlib.import_module("task_router.evaluators.trajectory").__file__).parent == ROOT / "evaluators"
    listed = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode == 0:  # a git checkout: no tracked symlink anywhere (a checkout without symlinks works)
        assert not [line for line in listed.stdout.splitlines() if line.startswith("120000 ")]


def test_a_missing_prompt_names_the_shipped_ones() -> None:
    with pytest.raises(FileNotFoundError, match=r"no prompt file 'nope.yaml'.*'structured.yaml'"):
        read_prompt("nope.yaml")


def build(kind: str, source: Path, out: Path) -> Path:
    code = f"import hatchling.build as b; print(b.build_{kind}({str(out)!r}))"
    done = subprocess.run([sys.executable, "-c", code], cwd=source, capture_output=True, text=True, check=True)
    return out / done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if checkout_root() is None:
        pytest.skip("needs a source checkout")
    pytest.importorskip("hatchling")
    return build("wheel", ROOT, tmp_path_factory.mktemp("wheel"))


@checkout
def test_wheel_and_the_wheel_built_from_the_sdist_carry_every_file(wheel: Path, tmp_path: Path) -> None:
    expected = {
        f"task_router/{name}/{path.relative_to(ROOT / name)}"
        for name in DATA
        for path in (ROOT / name).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    } | {"task_router/py.typed"}
    assert expected <= set(zipfile.ZipFile(wheel).namelist())
    sdist = build("sdist", ROOT, tmp_path / "sdist")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    rebuilt = build("wheel", unpacked, tmp_path / "rebuilt")
    assert expected <= set(zipfile.ZipFile(rebuilt).namelist())


@checkout
def test_the_wheel_ships_the_learned_routers_model_and_training_data(wheel: Path) -> None:
    """The shipped model folder of the learned router and its training's off-topic requests are package data of
    task_router._learned (the wheel carries every file under src/task_router)."""
    learned = PACKAGE / "_learned"
    expected = {
        f"task_router/{path.relative_to(PACKAGE).as_posix()}"
        for folder in (learned / "builtin", learned / "training" / "data")
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert {
        "task_router/_learned/builtin/learned.json",
        "task_router/_learned/builtin/bi_encoder/adapter_model.safetensors",
        "task_router/_learned/training/data/off_topic_requests.txt",
    } <= expected
    assert expected <= set(zipfile.ZipFile(wheel).namelist())


_INSTALLED = """
import json, sys
import task_router, task_router.evaluators, task_router.evaluators.trajectory
from task_router._resources import checkout_root, data_folder, read_prompt
from task_router.routers._fallbacks import make_reliable  # the package imports as a whole
print(json.dumps({
    "package": task_router.__file__,
    "evaluators": [task_router.evaluators.__file__, task_router.evaluators.trajectory.__file__],
    "folders": [str(data_folder(name)) for name in ("prompts", "evaluators")],
    "prompt": read_prompt("zero-shot.yaml"),
    "checkout": checkout_root() is not None,
    "finders": [type(finder).__name__ for finder in sys.meta_path],
}))
"""


@checkout
def test_the_installed_wheel_reads_its_own_package_data(wheel: Path, tmp_path: Path) -> None:
    """In a throwaway venv (the dependencies from this environment, not the package): prompts and evaluators come
    from the installed wheel, not from this checkout."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q"]
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True, text=True)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    done = subprocess.run(
        [str(python), "-c", textwrap.dedent(_INSTALLED)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    installed = Path(seen["package"]).parent
    assert installed.is_relative_to(venv) and installed.name == "task_router"
    assert [Path(f) for f in seen["evaluators"]] == [
        installed / "evaluators/__init__.py",
        installed / "evaluators/trajectory.py",
    ]
    assert [Path(f) for f in seen["folders"]] == [installed / name for name in DATA]
    assert seen["prompt"] == (ROOT / "prompts" / "zero-shot.yaml").read_text(encoding="utf-8")
    assert not seen["checkout"] and "_CheckoutFinder" not in seen["finders"]
    assert (installed / "py.typed").is_file()
