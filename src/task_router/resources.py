"""Package data of task_router: the router prompt files, whose one home is ``src/task_router/prompts/``.

The files live inside the package, so the same lookup serves an editable install, a source checkout, the sdist and
the wheel. (No symlink to them elsewhere in the repository: hatchling's sdist would keep the symlink's copy and drop
the package's, and a wheel built from that sdist would have no prompts.)
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
