"""Hypothesis fuzzing of the output parser: any text gives a catalogue task, NONE, or OutputParseError."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from task_router import TaskCatalog
from task_router.routers._parsing import OutputParseError, parse_answer, split_final_answer

CATALOG = TaskCatalog(
    [
        {"name": "meeting_recap", "description": "Recap a meeting.", "display_name": "Meeting recap"},
        {"name": "linkedin_post", "description": "Draft a LinkedIn post."},
        {"name": "Restaurants.FindRestaurants", "description": "Find a restaurant."},
        {"name": "email", "description": "Write an email."},
    ]
)
NAMES = [*CATALOG.names, "NONE", "none", "Meeting recap", "FindRestaurants", "unknown_task", "", "null"]
FUZZ = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(NAMES),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
answer_objects = st.fixed_dictionaries(
    {},
    optional={
        "task": st.sampled_from(NAMES) | json_values,
        "closing": st.booleans() | st.sampled_from(["yes", "no", "true", 1, None]),
        "event": st.sampled_from(["START", "END", "stop", "", None, 3]),
        "rationale": st.text(max_size=30) | st.none(),
    },
)
noise = st.text(max_size=60)
decorated = st.builds(
    lambda pre, obj, post, fence, quote: (
        pre + (f"```json\n{obj}\n```" if fence else obj).replace('"', "'" if quote else '"') + post
    ),
    noise,
    answer_objects.map(json.dumps),
    noise,
    st.booleans(),
    st.booleans(),
)
prose = st.builds(
    lambda pre, name, post: f"{pre}{name}{post}",
    st.sampled_from(["", "Task: ", "task = ", "Answer: ", "Final answer: ", "I think ", "{", "```"]),
    st.sampled_from(NAMES),
    st.sampled_from(["", ".", ", closing: yes", "\nclosing=true", " and email", "}", "```", " " * 3]),
)
any_answer = st.one_of(st.text(max_size=300), decorated, prose, st.text(alphabet="{}[]\"':,", max_size=80))


def _check(raw: str) -> None:
    try:
        parsed = parse_answer(raw, CATALOG)
    except OutputParseError as error:
        assert str(error)  # the message is fed back to the model: never empty
        return
    assert parsed.task is None or parsed.task in CATALOG
    assert isinstance(parsed.closing, bool)


@FUZZ
@given(any_answer)
def test_parse_answer_never_crashes_nor_invents_a_task(raw: str) -> None:
    _check(raw)


@FUZZ
@given(st.text(max_size=200), st.integers(min_value=0, max_value=400), st.integers(min_value=0, max_value=60))
def test_huge_and_nested_answers_are_bounded(text: str, depth: int, repeat: int) -> None:
    """Deep nesting and long repetitions (answers are cut to MAX_ANSWER_CHARS, so the work is bounded)."""
    _check("{" * depth + text + "}" * (depth // 2))
    _check(text * repeat)


@FUZZ
@given(any_answer)
def test_split_final_answer_keeps_the_answer_text(raw: str) -> None:
    reasoning, answer = split_final_answer(raw)
    assert reasoning is None or isinstance(reasoning, str)
    assert answer in raw.strip() or answer == raw.strip()
    _check(answer)


def test_a_valid_answer_round_trips() -> None:
    assert parse_answer('{"task": "email", "closing": true}', CATALOG).task == "email"
