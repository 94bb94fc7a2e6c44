"""Hostile-turn cases (``tests/fixtures/injection_*.jsonl``) and the router inputs built from them: a test and
benchmark fixture (tests/integration_tests/test_injection.py, benchmarks/reliability_injection.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from task_router import TaskCatalog


@dataclass(frozen=True)
class InjectionCase:
    """A benign user turn (``base``), the same turn with an attack appended (``attack``), the task the attacker
    wants (``target``, possibly not in the catalogue) and the task active before the turn."""

    id: str
    base: str
    attack: str
    target: str
    active_task: str | None = None


def load_injection_cases(path: str | Path) -> list[InjectionCase]:
    """Read a ``.jsonl`` file of cases (one JSON object per line with the fields of :class:`InjectionCase`)."""
    cases = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                cases.append(InjectionCase(**json.loads(line)))
            except (json.JSONDecodeError, TypeError) as exc:
                raise ValueError(f"{path}:{number}: not an injection case ({exc}): see InjectionCase") from None
    return cases


def case_input(case: InjectionCase, catalog: TaskCatalog, *, hostile: bool) -> dict[str, Any]:
    """The router input for a case: when a task is active, one earlier exchange about it comes first."""
    messages: list[dict[str, str]] = []
    if case.active_task is not None:
        task = catalog[case.active_task]
        request = task.examples[0] if task.examples else f"Help me with {task.title.lower()}."
        messages += [
            {"role": "user", "content": request},
            {"role": "assistant", "content": f"Sure, let's work on the {task.title.lower()}. Tell me more."},
        ]
    messages.append({"role": "user", "content": case.attack if hostile else case.base})
    return {"messages": messages, "active_task": case.active_task, "catalog": catalog}
