"""Synthetic generation with a scripted chat model: plans, prompt, parsing, rejection of bad answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from task_router._catalog import TaskCatalog
from task_router.evaluation import load_dataset
from task_router.training._data import (
    GenerationError,
    GenerationReport,
    generate_records,
    generation_messages,
    load_generator_prompt,
    parse_generated,
    plan_conversations,
    write_records,
)
from tests.conftest import scripted_model


@pytest.fixture
def tasks() -> TaskCatalog:
    return TaskCatalog(
        [
            {"name": "flight", "description": "Book a plane ticket."},
            {"name": "hotel", "description": "Reserve a hotel room."},
            {"name": "weather", "description": "Give the weather forecast."},
        ]
    )


def answer(*turns: tuple[str, str, str | None, bool]) -> dict:
    out = []
    for role, text, task, closing in turns:
        turn = {"role": role, "text": text}
        if role == "user":
            turn |= {"task": task, "closing": closing}
        out.append(turn)
    return {"turns": out}


def test_plans_are_seeded_and_cover_scenarios(tasks: TaskCatalog) -> None:
    plans = plan_conversations(tasks, 10, seed=3)
    assert plans == plan_conversations(tasks, 10, seed=3)
    assert plans != plan_conversations(tasks, 10, seed=4)
    assert {p.scenario for p in plans} == {"single", "switch", "end_then_new", "out_of_catalogue", "drift_out"}
    for plan in plans:
        if plan.scenario in ("switch", "end_then_new"):
            assert plan.task in tasks and plan.other in tasks and plan.task != plan.other
        if plan.scenario == "out_of_catalogue":
            assert plan.task is None
    with pytest.raises(ValueError, match="unknown scenarios"):
        plan_conversations(tasks, 1, scenarios=["bogus"])


def test_prompt_names_the_scenario_tasks(tasks: TaskCatalog) -> None:
    plan = next(p for p in plan_conversations(tasks, 5, seed=0) if p.scenario == "switch")
    system, user = generation_messages(load_generator_prompt(), tasks, plan)
    assert "JSON" in system.content
    assert f'"{plan.task}"' in user.content and f'"{plan.other}"' in user.content
    assert "- hotel: Reserve a hotel room." in user.content


def test_parse_derives_events(tasks: TaskCatalog) -> None:
    text = json.dumps(
        answer(
            ("user", "I need to fly to Rome", "flight", False),
            ("assistant", "When?", None, False),
            ("user", "Friday. Is it sunny there?", "weather", False),
            ("assistant", "Yes.", None, False),
            ("user", "Great, bye", "weather", True),
        )
    )
    record = parse_generated(f"Sure!\n```json\n{text}\n```", tasks, record_id="s1", scenario="switch")
    assert [(x.turn_index, x.task, x.event) for x in record.labels] == [
        (0, "flight", "START"),
        (2, "weather", "SWITCH"),
        (4, "weather", "END"),
    ]
    assert record.source == "synthetic" and [t["name"] for t in record.tasks] == tasks.names


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("no json here", "no JSON object"),
        ('{"turns": []}', "no 'turns'"),
        (json.dumps(answer(("user", "hi", "taxi", False))), "not in the catalogue"),
        (json.dumps(answer(("user", "a", "flight", False), ("user", "b", "flight", False))), "in a row"),
        (json.dumps(answer(("assistant", "Hello", None, False), ("user", "hi", "NONE", False))), "start with a user"),
    ],
)
def test_bad_answers_are_rejected(tasks: TaskCatalog, text: str, error: str) -> None:
    with pytest.raises(GenerationError, match=error):
        parse_generated(text, tasks, record_id="x")


def test_generate_writes_benchmark_records_and_counts_failures(tasks: TaskCatalog, tmp_path: Path) -> None:
    good = answer(("user", "What's the weather in Oslo?", "weather", False), ("assistant", "Cold.", None, False))
    model = scripted_model(good, "I cannot do that", good)
    report = GenerationReport()
    out = tmp_path / "synthetic.jsonl"
    assert write_records(generate_records(model, tasks, 3, seed=1, report=report), out) == 2
    assert report.failed == 1 and "no JSON object" in report.errors[0]
    records = load_dataset(out)
    assert [r.labels[0].event for r in records] == ["START", "START"]
    assert records[0].turns[-1].role == "user"  # a trailing assistant turn is dropped
