"""Synthetic training conversations from any chat model with ``prompts/generator.yaml``.

A deterministic plan (scenario, task, other task, number of user turns) is drawn per conversation from a seed;
the chat model writes the conversation and labels its user turns; the labels are checked against the catalogue
and turned into benchmark-format labels (events derived with docs/contract.md's table). Records that fail the checks
are skipped and counted, never repaired silently. Review the output with ``task-router review``.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from task_router._catalog import NONE_LABEL, TaskCatalog
from task_router._prompting import render_catalog
from task_router._resources import read_prompt
from task_router.evaluation import ConversationRecord, parse_records
from task_router.training._targets import labels_from_answers

SCENARIOS = ("single", "switch", "end_then_new", "out_of_catalogue", "drift_out")


class GenerationError(ValueError):
    """A generated conversation that cannot be used as training data (the message says why)."""


@dataclass(frozen=True)
class GenerationPlan:
    """What one synthetic conversation should contain."""

    index: int
    scenario: str
    task: str | None
    other: str | None
    n_user: int


@dataclass
class GenerationReport:
    written: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def load_generator_prompt(name: str = "generator") -> dict[str, Any]:
    data = yaml.safe_load(read_prompt(f"{name}.yaml"))
    if not isinstance(data, dict) or not {"system", "user", "scenarios"} <= set(data):
        raise ValueError(f"{name}.yaml needs 'system', 'user' and 'scenarios' sections: see prompts/generator.yaml")
    return data


def plan_conversations(
    catalog: TaskCatalog,
    n: int,
    *,
    seed: int = 0,
    scenarios: Sequence[str] = SCENARIOS,
    turns: tuple[int, int] = (2, 5),
) -> list[GenerationPlan]:
    """``n`` plans cycling through the scenarios, tasks drawn with a seeded RNG (same seed, same plans).

    Example:
        >>> catalog = TaskCatalog([{"name": "a", "description": "Do A."}, {"name": "b", "description": "Do B."}])
        >>> [p.scenario for p in plan_conversations(catalog, 3, scenarios=["single", "switch"])]
        ['single', 'switch', 'single']
    """
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        raise ValueError(f"unknown scenarios {sorted(unknown)}: choose from {SCENARIOS}")
    rng = random.Random(seed)
    names = catalog.names
    plans = []
    task: str | None
    other: str | None
    for i in range(n):
        scenario = scenarios[i % len(scenarios)]
        needs_two = scenario in ("switch", "end_then_new")
        if needs_two and len(names) < 2:
            scenario = "single"
        task, other = rng.sample(names, 2) if needs_two and len(names) >= 2 else (rng.choice(names), None)
        if scenario == "out_of_catalogue":
            task, other = None, None
        plans.append(GenerationPlan(i, scenario, task, other if needs_two else None, rng.randint(*turns)))
    return plans


def generation_messages(prompt: dict[str, Any], catalog: TaskCatalog, plan: GenerationPlan) -> list[Any]:
    def describe(name: str | None) -> str:
        return catalog[name].description if name else ""

    scenario = str(prompt["scenarios"][plan.scenario]).format(
        task=plan.task or "",
        task_description=describe(plan.task),
        other=plan.other or "",
        other_description=describe(plan.other),
    )
    user = str(prompt["user"]).format(
        catalog=render_catalog(catalog.tasks, with_examples=False), scenario=scenario, n_user=plan.n_user
    )
    return [SystemMessage(str(prompt["system"])), HumanMessage(user)]


def parse_generated(text: str, catalog: TaskCatalog, *, record_id: str, scenario: str = "") -> ConversationRecord:
    """A benchmark record from the model's JSON answer. Raises GenerationError naming the problem.

    Example:
        >>> catalog = TaskCatalog([{"name": "a", "description": "Do A."}])
        >>> answer = '{"turns": [{"role": "user", "text": "do A", "task": "a"}]}'
        >>> parse_generated(answer, catalog, record_id="s1").labels[0].event
        'START'
    """
    data = _json_object(text)
    turns = data.get("turns") if isinstance(data, dict) else None
    if not isinstance(turns, list) or not turns:
        raise GenerationError("the answer has no 'turns' list")
    clean: list[dict[str, str]] = []
    indexes: list[int] = []
    answers: list[tuple[str | None, bool]] = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
            raise GenerationError(f"turn {i} is not {{'role': 'user'|'assistant', 'text': ...}}")
        text_value = str(turn.get("text") or "").strip()
        if not text_value:
            raise GenerationError(f"turn {i} has no text")
        if clean and clean[-1]["role"] == turn["role"]:
            raise GenerationError(f"turn {i}: two {turn['role']} turns in a row")
        clean.append({"role": turn["role"], "text": text_value})
        if turn["role"] == "user":
            task = str(turn.get("task") or NONE_LABEL).strip()
            if task != NONE_LABEL and task not in catalog:
                raise GenerationError(f"turn {i}: task {task!r} is not in the catalogue")
            indexes.append(i)
            answers.append((None if task == NONE_LABEL else task, bool(turn.get("closing", False))))
    if clean[0]["role"] != "user":
        raise GenerationError("the conversation must start with a user turn")
    while clean[-1]["role"] != "user":
        clean.pop()
    kept = [(i, a) for i, a in zip(indexes, answers, strict=True) if i < len(clean)]
    record = {
        "id": record_id,
        "source": "synthetic",
        "split": "train",
        "scenario": scenario,
        "tasks": catalog.to_records(),
        "turns": clean,
        "labels": labels_from_answers([i for i, _ in kept], [a for _, a in kept]),
    }
    return parse_records([record])[0]


def generate_records(
    model: BaseChatModel,
    catalog: TaskCatalog,
    n: int,
    *,
    seed: int = 0,
    prompt: str = "generator",
    id_prefix: str = "synthetic",
    report: GenerationReport | None = None,
) -> Iterator[ConversationRecord]:
    """Generate up to ``n`` conversations (failed ones are skipped and counted in ``report``).

    Example:
        >>> from task_router import load_chat_model
        >>> records = list(generate_records(load_chat_model("openai:gpt-4o-mini"), catalog, 10))  # doctest: +SKIP
    """
    sections = load_generator_prompt(prompt)
    report = report if report is not None else GenerationReport()
    for plan in plan_conversations(catalog, n, seed=seed):
        messages = generation_messages(sections, catalog, plan)
        try:
            reply = model.invoke(messages)
            text = reply.content if isinstance(reply.content, str) else str(reply.content)
            record_id = f"{id_prefix}-{seed}-{plan.index}"
            record = parse_generated(text, catalog, record_id=record_id, scenario=plan.scenario)
        except ValueError as exc:  # GenerationError, or a record the benchmark format rejects
            report.failed += 1
            report.errors.append(f"#{plan.index} ({plan.scenario}): {exc}")
            continue
        report.written += 1
        yield record


def write_records(records: Iterator[ConversationRecord] | Sequence[ConversationRecord], path: str | Path) -> int:
    """Write records as benchmark JSONL (one per line); returns how many were written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record.model_dump(), ensure_ascii=False) + "\n")
            count += 1
    return count


def _json_object(text: str) -> Any:
    text = re.sub(r"^```(?:json)?|```$", "", text.strip(), flags=re.MULTILINE).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise GenerationError("the answer holds no JSON object")
    try:
        return json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise GenerationError(f"the answer is not valid JSON ({exc.msg})") from None
