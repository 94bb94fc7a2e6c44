"""Every Python block of README.md runs as pasted: alone, in a fresh process, offline, with no API key.

A block whose first line is ``# needs <NAME>_API_KEY`` needs that key and the network: it is skipped here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import task_router
from tests.conftest import ROOT_DIR

README = ROOT_DIR / "README.md"
_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_NEEDS_KEY = re.compile(r"\A#\s*needs\s+([A-Z][A-Z0-9_]*_API_KEY)\b")
TIMEOUT_S = 900  # a hang guard, not a speed test: ~30 s idle, over 300 s beside a training run on 2 cores


def python_blocks() -> list[tuple[int, str]]:
    """(line number, code) of every ```python block of the README."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start()) + 1, match.group(1)) for match in _BLOCK.finditer(text)]


def needed_key(code: str) -> str | None:
    match = _NEEDS_KEY.match(code)
    return match.group(1) if match else None


def test_readme_snippets_are_offline_unless_marked() -> None:
    """Offline blocks come first and are the majority; a block that talks to an API says which key it needs."""
    blocks = python_blocks()
    offline = [code for _, code in blocks if needed_key(code) is None]
    assert len(offline) >= 2 and needed_key(blocks[0][1]) is None
    for line, code in blocks:
        if re.search(r"openai:|ChatOpenAI|anthropic:", code):
            assert needed_key(code), f"README block at line {line} calls an API: start it with '# needs <KEY>'"


@pytest.mark.slow  # the first block runs the embedded model: two deliverables, ~30 s on 2 cores
@pytest.mark.parametrize(("line", "code"), python_blocks(), ids=[f"line{line}" for line, _ in python_blocks()])
def test_readme_snippet_runs_as_pasted(line: int, code: str, tmp_path: Path) -> None:
    key = needed_key(code)
    if key is not None:
        pytest.skip(f"README block at line {line} needs {key} and the network")
    env = {key: value for key, value in os.environ.items() if not key.endswith("_API_KEY")}
    source = str(Path(task_router.__file__).parents[1])  # the code under test, wherever the process runs from
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")])),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HTTPS_PROXY="http://127.0.0.1:9",  # any attempt to reach the network fails at once
        HTTP_PROXY="http://127.0.0.1:9",
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S
    )
    assert done.returncode == 0, f"README block at line {line} failed:\n{done.stderr[-3000:]}"
    assert done.stdout.strip(), f"README block at line {line} printed nothing: show the result"


_ROUTE_LINE = re.compile(r"^(task-router route [^#\n]*?)\s*(?:#.*)?$", re.MULTILINE)


def route_commands() -> list[str]:
    """The README's `task-router route` lines that read only files of the repository (not a user's runs/)."""
    return [line for line in _ROUTE_LINE.findall(README.read_text(encoding="utf-8")) if "runs/" not in line]


def test_there_is_a_route_command_to_check() -> None:
    assert route_commands(), "the README no longer shows `task-router route` on the example files"


@pytest.mark.parametrize("command", route_commands())
def test_readme_route_command_runs_as_pasted(command: str) -> None:
    """The one-decision command of "Other commands", as pasted in the repository root (it once lacked --catalog
    and failed on the example conversation's task)."""
    args = command.split()[1:]
    done = subprocess.run(
        [sys.executable, "-c", "from task_router.cli import app; app()", *args],
        cwd=ROOT_DIR,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"event"' in done.stdout and '"valid_format": true' in done.stdout
