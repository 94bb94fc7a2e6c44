"""The lenient parser and the one-repair path on a corpus of ugly real-world model outputs."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.runnables import RunnableLambda

from task_router import TaskCatalog
from task_router._budget import ModelCall, run_plan
from task_router._router_input import coerce_input
from task_router.routers._answering import read_answer
from task_router.routers._parsing import OutputParseError, parse_answer, split_final_answer
from tests.conftest import FIXTURES

CORPUS = yaml.safe_load((FIXTURES / "ugly_outputs.yaml").read_text(encoding="utf-8"))
CATALOG = TaskCatalog.from_records(CORPUS["catalog"])
CASES = CORPUS["cases"]
PARSED = [c for c in CASES if "error" not in c]
ERRORS = [c for c in CASES if "error" in c]


def test_corpus_is_big_and_covers_both_outcomes():
    assert len(CASES) >= 40
    assert len({c["id"] for c in CASES}) == len(CASES)
    assert len(PARSED) >= 25 and len(ERRORS) >= 8


@pytest.mark.parametrize("case", PARSED, ids=[c["id"] for c in PARSED])
def test_ugly_output_parses(case):
    answer = parse_answer(case["raw"], CATALOG)
    assert answer.task == case["task"]
    assert answer.closing is case.get("closing", False)
    if "rationale" in case:
        assert answer.rationale == case["rationale"]


@pytest.mark.parametrize("case", ERRORS, ids=[c["id"] for c in ERRORS])
def test_ugly_output_is_rejected_with_a_usable_message(case):
    with pytest.raises(OutputParseError) as error:
        parse_answer(case["raw"], CATALOG)
    assert case["error"] in str(error.value)


@pytest.mark.parametrize(
    ("raw", "task"),
    [
        ("blah " * 200_000, "error"),
        ("{" * 100_000, "error"),
        ("I will think out loud. " * 20_000 + '{"task": "linkedin_post", "closing": false}', "linkedin_post"),
    ],
    ids=["huge-prose", "huge-open-braces", "huge-then-answer"],
)
def test_huge_outputs(raw, task):
    if task == "error":
        with pytest.raises(OutputParseError):
            parse_answer(raw, CATALOG)
    else:
        assert parse_answer(raw, CATALOG).task == task


def _read(raw, routing, *, reask=None):
    """``read_answer`` driven to its prediction, ``reask(error)`` standing in for the model's second answer."""

    def call(error: OutputParseError) -> ModelCall:
        return ModelCall(RunnableLambda(lambda _messages: reask(error)), [])

    return run_plan(read_answer(raw, routing, reask=None if reask is None else call), {})


def _routing(active: str | None = None):
    return coerce_input({"messages": ["hello"], "active_task": active, "catalog": CATALOG})


@pytest.mark.parametrize("case", ERRORS, ids=[c["id"] for c in ERRORS])
def test_repair_recovers_and_is_counted(case):
    errors: list[str] = []

    def reask(error: OutputParseError) -> str:
        errors.append(str(error))
        return '{"task": "meeting_recap", "closing": false}'

    prediction = _read(case["raw"], _routing(), reask=reask)
    assert prediction.task == "meeting_recap"
    assert prediction.valid_format is False and prediction.fallback == "repaired"
    assert errors and case["error"] in errors[0]  # the model is told what was wrong
    assert prediction.raw_output.startswith(case["raw"]) and "meeting_recap" in prediction.raw_output


@pytest.mark.parametrize("active", [None, "linkedin_post"])
def test_unrepairable_answer_falls_back_to_the_active_task(active):
    prediction = _read("the weather is nice", _routing(active), reask=lambda error: "still no idea")
    assert prediction.task == active
    assert prediction.valid_format is False and "after one repair" in prediction.fallback


def test_clean_answer_needs_no_repair():
    def reask(error: OutputParseError) -> str:
        raise AssertionError("a clean answer must not be re-asked")

    prediction = _read("Task: LinkedIn post", _routing(), reask=reask)
    assert (prediction.task, prediction.valid_format, prediction.fallback) == ("linkedin_post", True, None)


def test_no_repair_means_immediate_fallback():
    prediction = _read("", _routing("meeting_recap"), reask=None)
    assert prediction.task == "meeting_recap" and "unparseable answer" in prediction.fallback


@pytest.mark.parametrize(
    ("raw", "reasoning", "answer"),
    [
        ('Reasoning: wants a post.\nAnswer: {"task": "linkedin_post"}', "wants a post.", '{"task": "linkedin_post"}'),
        ("The user closes.\nanswer - NONE", "The user closes.", "NONE"),
        ("Answer: a\nAnswer: b", "Answer: a", "b"),
        ('{"task": "linkedin_post"}', None, '{"task": "linkedin_post"}'),
    ],
)
def test_split_final_answer(raw, reasoning, answer):
    assert split_final_answer(raw) == (reasoning, answer)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_any_text_gives_a_catalogue_task_or_a_parse_error(raw):
    try:
        answer = parse_answer(raw, CATALOG)
    except OutputParseError:
        return
    assert answer.task is None or answer.task in CATALOG
    assert isinstance(answer.closing, bool)
