"""Lenient parsing of a router model's answer into (task, closing), never naming a task outside the catalogue.

The answer vocabulary of the prompted router kinds (``prompts/*.yaml``):

| the model answers | meaning | parsed as |
|---|---|---|
| a task name (``closing`` false) | the assistant does that task (START / CONTINUE / SWITCH) | (task, False) |
| ``DONE`` | the user is done with the active task (END) | (None, True) |
| the active task with ``closing`` true | the same, the older spelling | (task, True) |
| ``NONE`` | nothing in the list fits: an off-topic request; an active task stays active | (None, False) |
| ``NONE`` with ``closing`` true | the user is done (older answers) | (None, True) |

:class:`~task_router.Router` turns (None, True) into END of the active task and (None, False) into
NONE (see :func:`task_router.derive_event`).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from task_router._catalog import TaskCatalog, name_key

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_NONE_WORDS = {"none", "no task", "null", "nothing", "no_task", "n/a", "none of the above", "off topic"}
#: The answer for "the user is done with the active task" (closing it); :data:`NONE_LABEL` is "nothing fits".
DONE_LABEL = "DONE"
_DONE_WORDS = {"done", "finished", "end", "close", "closed", "closing"}
_TRUE = {"true", "yes", "1", "y"}
_CLOSING_EVENTS = {"END", "STOP", "CLOSE", "DONE"}
MAX_ANSWER_CHARS = 8000  # longer answers are read from their tail, where a final answer usually is
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_FINAL_MARKER = re.compile(r"^[^\w\n]*(?:final[ \t]+answer|answer|decision)[ \t]*[:=-]", re.IGNORECASE | re.MULTILINE)
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_LABEL_IN_PROSE = re.compile(r"\b(NONE|DONE)\b")
_PROSE_CLOSING = re.compile(r"\bclosing[\"'`]?\s*[:=]\s*[\"'`*]*(true|yes|false|no)\b", re.IGNORECASE)


class OutputParseError(ValueError):
    """The model's answer names no single allowed task; the message is fed back to the model on repair."""


@dataclass(frozen=True)
class ParsedAnswer:
    """A model's answer: ``task`` None with ``closing`` is DONE (the user is done), without it NONE (nothing fits)."""

    task: str | None  # None: NONE, or DONE when closing
    closing: bool = False
    rationale: str | None = None


def resolve_task(value: Any, catalog: TaskCatalog) -> str | None:
    """Map a model-written task name to a catalogue name (None for NONE or DONE). Raises OutputParseError if unknown.

    Use :func:`resolve_choice` to tell NONE (nothing fits) and DONE (the user is done) apart.
    """
    return resolve_choice(value, catalog)[0]


def resolve_choice(value: Any, catalog: TaskCatalog, closing: bool = False) -> tuple[str | None, bool]:
    """Map a model-written answer and its closing flag to (catalogue task or None, closing).

    DONE (or "finished", "end") is (None, True): the user is done with the active task; NONE is (None, ``closing``):
    nothing fits, unless the model also set ``closing`` (an older way of saying "done"). A task of the catalogue
    whose name is one of these words wins over the word. Raises OutputParseError for a name outside the catalogue.

    Example:
        >>> catalog = TaskCatalog([{"name": "recap", "description": "Recap a meeting."}])
        >>> resolve_choice("DONE", catalog), resolve_choice("NONE", catalog), resolve_choice("Recap", catalog, True)
        ((None, True), (None, False), ('recap', True))
    """
    if value is None:
        return None, closing
    text = str(value).strip().strip("'\"`*[]<>").strip()
    wanted = name_key(text)
    if not text or wanted in _NONE_WORDS:
        return None, closing
    if text in catalog:
        return text, closing
    for task in catalog:
        if wanted in (name_key(task.name), name_key(task.title)):
            return task.name, closing
    if wanted in _DONE_WORDS:
        return None, True
    # "Service.Intent" style names: accept the unambiguous last segment (e.g. "FindRestaurants").
    tails = [t.name for t in catalog if name_key(t.name.rsplit(".", 1)[-1]) == wanted]
    if len(tails) == 1:
        return tails[0], closing
    raise OutputParseError(
        f"{text!r} is not a task in the catalogue; answer with one of {catalog.names}, NONE or {DONE_LABEL}"
    )


def parse_answer(raw: str, catalog: TaskCatalog) -> ParsedAnswer:
    """Read {"task": ..., "closing": ...} (JSON, possibly fenced or inside prose) or a bare task name."""
    text = (raw or "").strip()
    if not text:
        raise OutputParseError('the answer is empty; answer with a JSON object {"task": ..., "closing": ...}')
    if len(text) > MAX_ANSWER_CHARS:
        text = text[-MAX_ANSWER_CHARS:]
    text = text.translate(_SMART_QUOTES)
    data = find_json_object(text, keys=("task", "event", "closing"))
    if data is not None:
        return _from_mapping(data, catalog)
    return _from_prose(text, catalog)


def split_final_answer(raw: str) -> tuple[str | None, str]:
    """Split a chain-of-thought answer into (reasoning, final answer text) at its last "Answer:" line.

    Without such a line the whole text is the answer and there is no separate reasoning.

    Example:
        >>> split_final_answer('Reasoning: the user wants a recap.\\nAnswer: {"task": "recap"}')
        ('the user wants a recap.', '{"task": "recap"}')
    """
    text = (raw or "").strip()[-MAX_ANSWER_CHARS:]  # read like parse_answer: the tail, where the answer is
    markers = list(_FINAL_MARKER.finditer(text))
    if not markers:
        return None, text
    last = markers[-1]
    reasoning = text[: last.start()].strip()
    reasoning = re.sub(r"^\W*(?:reasoning|thought|thinking)\s*[:=-]\s*", "", reasoning, flags=re.IGNORECASE)
    return (reasoning or None), text[last.end() :].strip()


def find_json_object(text: str, keys: Iterable[str]) -> dict[str, Any] | None:
    """The first JSON object (fenced, inside prose, single-quoted or with trailing commas) that has one of ``keys``
    (keys are lower-cased), else None."""
    wanted = {key.lower() for key in keys}
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        for start, end in _brace_pairs(candidate):
            value = _load_object(candidate[start : end + 1])
            if value is not None and value.keys() & wanted:
                return value
    return None


def _brace_pairs(text: str) -> list[tuple[int, int]]:
    """(start, end) of every balanced {...} in the text, outermost first, in one pass."""
    stack: list[int] = []
    pairs: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        if ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            pairs.append((stack.pop(), i))
    return sorted(pairs)


def _load_object(chunk: str) -> dict[str, Any] | None:
    """JSON, JSON with single quotes / trailing commas, or a Python dict literal (never evaluated as code)."""
    cleaned = _TRAILING_COMMA.sub(r"\1", chunk)
    for attempt in (chunk, cleaned, cleaned.replace("'", '"')):
        try:
            value = json.loads(attempt)
        except json.JSONDecodeError:
            continue
        return _lower_keys(value) if isinstance(value, dict) else None
    try:
        value = ast.literal_eval(cleaned)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return _lower_keys(value) if isinstance(value, dict) else None


def _lower_keys(data: dict[str, Any]) -> dict[str, Any]:
    return {str(k).strip().lower(): v for k, v in data.items()}


def _from_mapping(data: dict[str, Any], catalog: TaskCatalog) -> ParsedAnswer:
    if "task" not in data:
        raise OutputParseError(
            'the JSON has no "task" field; answer {"task": <task name, NONE or DONE>, "closing": ...}'
        )
    task = data["task"]
    if isinstance(task, list | dict):
        raise OutputParseError('"task" must be a single task name, NONE or DONE')
    closing = data.get("closing", False)
    closing = closing if isinstance(closing, bool) else str(closing).strip().lower() in _TRUE
    event = str(data.get("event") or "").strip().upper()
    if event in _CLOSING_EVENTS:
        closing = True
    rationale = data.get("rationale") or data.get("reasoning") or data.get("thought")
    name, closing = resolve_choice(task, catalog, closing)
    return ParsedAnswer(name, closing, str(rationale) if rationale else None)


def _from_prose(text: str, catalog: TaskCatalog) -> ParsedAnswer:
    _, tail = split_final_answer(text)
    if tail and tail != text:  # "... Answer: <name>": read what follows the last answer marker
        return _from_prose(tail, catalog)
    labelled = re.search(r"\btask[\"'`]?(?:\s+name)?\s*[:=]\s*(.+)", text, re.IGNORECASE)
    if labelled:
        several = _mentions(labelled.group(1), catalog)
        if len(several) > 1:
            raise OutputParseError(f"the answer names several tasks ({sorted(several)}); name exactly one, or NONE")
        flag = _PROSE_CLOSING.search(text)
        closing = bool(flag and flag.group(1).lower() in _TRUE)
        return ParsedAnswer(*_resolve_first(_label_candidates(labelled.group(1)), catalog, closing))
    one_line = text.splitlines()[0] if len(text) < 200 else ""
    if one_line:
        try:
            return ParsedAnswer(*resolve_choice(one_line, catalog))
        except OutputParseError:
            pass
    found = _mentions(text, catalog)
    if len(found) == 1:
        return ParsedAnswer(found.pop())
    if len(found) > 1:
        raise OutputParseError(f"the answer names several tasks ({sorted(found)}); name exactly one, or NONE")
    labels = _LABEL_IN_PROSE.findall(text)  # NONE / DONE written in capitals within prose: the last one counts
    if labels:
        return ParsedAnswer(None, closing=labels[-1] == DONE_LABEL)
    if re.fullmatch(r"[\s\"'`*.]*none[\s\"'`*.]*", text, re.IGNORECASE):
        return ParsedAnswer(None)  # the bare word
    raise OutputParseError(
        'no task name found; answer only with a JSON object {"task": <one of the task names, NONE or DONE>, '
        '"closing": ...}'
    )


def _label_candidates(value: str) -> list[str]:
    """Readings of the text after "task:", most specific first: up to a comma, the whole line, the first word."""
    value = value.strip()
    first_word = re.split(r"[\s,;]+", value.strip("\"'`*"), maxsplit=1)[0]
    return [re.split(r"[,;]", value, maxsplit=1)[0].rstrip(" .!"), value.rstrip(" .!"), first_word]


def _resolve_first(candidates: list[str], catalog: TaskCatalog, closing: bool) -> tuple[str | None, bool]:
    errors: list[OutputParseError] = []
    for candidate in candidates:
        try:
            return resolve_choice(candidate, catalog, closing)
        except OutputParseError as exc:
            errors.append(exc)
    raise errors[-1]


def _mentions(text: str, catalog: TaskCatalog) -> set[str]:
    """Tasks whose name or display name appears as whole words in the text."""
    found = set()
    padded = f" {_words(text)} "
    for task in catalog:
        if any(f" {_words(alias)} " in padded for alias in {task.name, task.title}):
            found.add(task.name)
    return found


def _words(text: str) -> str:
    """Lower-case words separated by single spaces (markup, punctuation and ``_ . -`` become spaces)."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()
