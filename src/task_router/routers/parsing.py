"""Lenient parsing of a router model's answer into (task, closing), never naming a task outside the catalogue."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from task_router.catalog import TaskCatalog

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_NONE_WORDS = {"none", "no task", "null", "nothing", "no_task", "n/a", "none of the above"}
_TRUE = {"true", "yes", "1", "y"}
_CLOSING_EVENTS = {"END", "STOP", "CLOSE", "DONE"}


class OutputParseError(ValueError):
    """The model's answer names no single allowed task; the message is fed back to the model on repair."""


@dataclass(frozen=True)
class ParsedAnswer:
    task: str | None  # None means NONE
    closing: bool = False
    rationale: str | None = None


def normalize(name: str) -> str:
    return re.sub(r"[\s_\-./:]+", " ", name.strip().strip("'\"`*").lower()).strip()


def resolve_task(value: Any, catalog: TaskCatalog) -> str | None:
    """Map a model-written task name to a catalogue name (None for NONE). Raises OutputParseError if unknown."""
    if value is None:
        return None
    text = str(value).strip().strip("'\"`*[]<>").strip()
    if not text or normalize(text) in _NONE_WORDS:
        return None
    if text in catalog:
        return text
    wanted = normalize(text)
    for task in catalog:
        if wanted in (normalize(task.name), normalize(task.title)):
            return task.name
    # "Service.Intent" style names: accept the unambiguous last segment (e.g. "FindRestaurants").
    tails = [t.name for t in catalog if normalize(t.name.rsplit(".", 1)[-1]) == wanted]
    if len(tails) == 1:
        return tails[0]
    raise OutputParseError(f"{text!r} is not a task in the catalogue; answer with one of {catalog.names} or NONE")


def parse_answer(raw: str, catalog: TaskCatalog) -> ParsedAnswer:
    """Read {"task": ..., "closing": ...} (JSON, possibly fenced or inside prose) or a bare task name."""
    text = (raw or "").strip()
    if not text:
        raise OutputParseError('the answer is empty; answer with a JSON object {"task": ..., "closing": ...}')
    data = _find_json_object(text)
    if data is not None:
        return _from_mapping(data, catalog)
    return _from_prose(text, catalog)


def _find_json_object(text: str) -> dict[str, Any] | None:
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        start = candidate.find("{")
        while start != -1:
            depth = 0
            for end in range(start, min(len(candidate), start + 20000)):
                ch = candidate[end]
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        chunk = candidate[start : end + 1]
                        for attempt in (chunk, chunk.replace("'", '"')):
                            try:
                                value = json.loads(attempt)
                            except json.JSONDecodeError:
                                continue
                            if isinstance(value, dict) and _lower_keys(value).keys() & {"task", "event", "closing"}:
                                return _lower_keys(value)
                        break
            start = candidate.find("{", start + 1)
    return None


def _lower_keys(data: dict[str, Any]) -> dict[str, Any]:
    return {str(k).strip().lower(): v for k, v in data.items()}


def _from_mapping(data: dict[str, Any], catalog: TaskCatalog) -> ParsedAnswer:
    if "task" not in data:
        raise OutputParseError('the JSON has no "task" field; answer {"task": <task name or NONE>, "closing": ...}')
    task = data["task"]
    if isinstance(task, list | dict):
        raise OutputParseError('"task" must be a single task name or NONE')
    closing = data.get("closing", False)
    closing = closing if isinstance(closing, bool) else str(closing).strip().lower() in _TRUE
    event = str(data.get("event") or "").strip().upper()
    if event in _CLOSING_EVENTS:
        closing = True
    rationale = data.get("rationale") or data.get("reasoning") or data.get("thought")
    return ParsedAnswer(resolve_task(task, catalog), closing, str(rationale) if rationale else None)


def _from_prose(text: str, catalog: TaskCatalog) -> ParsedAnswer:
    labelled = re.search(r"\btask\s*[:=]\s*[\"'`*]*([^\s\"'`*,;]+)", text, re.IGNORECASE)
    if labelled:
        return ParsedAnswer(resolve_task(labelled.group(1), catalog))
    one_line = text.splitlines()[0] if len(text) < 200 else ""
    if one_line:
        try:
            return ParsedAnswer(resolve_task(one_line, catalog))
        except OutputParseError:
            pass
    found = _mentions(text, catalog)
    if len(found) == 1:
        return ParsedAnswer(found.pop())
    if len(found) > 1:
        raise OutputParseError(f"the answer names several tasks ({sorted(found)}); name exactly one, or NONE")
    if re.fullmatch(r"[\s\"'`*.]*none[\s\"'`*.]*", text, re.IGNORECASE):
        return ParsedAnswer(None)
    raise OutputParseError(
        'no task name found; answer only with a JSON object {"task": <one of the task names or NONE>, "closing": ...}'
    )


def _mentions(text: str, catalog: TaskCatalog) -> set[str]:
    """Tasks whose name or display name appears as whole words in the text."""
    found = set()
    padded = f" {normalize(text)} "
    for task in catalog:
        if any(f" {normalize(alias)} " in padded for alias in {task.name, task.title}):
            found.add(task.name)
    return found
