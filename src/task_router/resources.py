"""Package data of task_router: the router prompt files.

Their one home is ``prompts/`` at the repository root; ``task_router/prompts`` is a symlink to it in a checkout (an
editable install reads the live files) and a folder of package data in the wheel, so one lookup serves every
install.
"""

from __future__ import annotations

from importlib.resources import files


def read_prompt(filename: str) -> str:
    """The text of a prompt file under ``task_router/prompts/``.

    Example:
        >>> "system" in read_prompt("zero-shot.yaml")
        True
    """
    path = files("task_router").joinpath("prompts", filename)
    if not path.is_file():
        shipped = sorted(p.name for p in files("task_router").joinpath("prompts").iterdir() if p.name.endswith(".yaml"))
        raise FileNotFoundError(
            f"no prompt file {filename!r} in task_router/prompts; the shipped ones are {shipped} "
            "(reinstall langgraph-task-router if one of them is missing)"
        )
    return path.read_text(encoding="utf-8")
