"""Benchmark loading: typed records, gold active tasks, LangSmith examples, errors that name the fix."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from task_router.evaluation import ConversationRecord, DatasetError, load_dataset, parse_records
from task_router.evaluation._langsmith_run import to_examples
from tests.unit_tests.evaluation.scripted import FIXTURE
from tests.unit_tests.fakes import digression_record


def test_loads_jsonl_and_gzip_alike(tmp_path: Path) -> None:
    packed = tmp_path / "small.jsonl.gz"
    packed.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    plain, zipped = load_dataset(FIXTURE), load_dataset(packed)
    assert [r.id for r in plain] == [r.id for r in zipped] == ["switch-end", "out-of-scope", "flight"]
    assert plain == zipped
    assert plain[0].labels[2].event == "SWITCH"


def test_limit_keeps_the_first_conversations() -> None:
    assert [r.id for r in load_dataset(FIXTURE, limit=2)] == ["switch-end", "out-of-scope"]


ONE_TURN_RECORD = {
    "id": "x",
    "tasks": [{"name": "a", "description": "Task a."}],
    "turns": [{"role": "user", "text": "hi"}],
    "labels": [{"turn_index": 0, "task": "a", "event": "START"}],
}


def task_a_record(texts: list[str], labels: list[dict[str, object]]) -> ConversationRecord:
    """A record over the one task "a" whose turns alternate the user's and the assistant's, the user's first."""
    turns = [{"role": ("user", "assistant")[i % 2], "text": text} for i, text in enumerate(texts)]
    return parse_records([{**ONE_TURN_RECORD, "turns": turns, "labels": labels}])[0]


def test_gold_active_task_stays_through_a_digression() -> None:
    record = task_a_record(
        ["do a", "which one?", "what is the capital of peru", "Sorry, I can't help with that here.", "the red one"],
        [
            {"turn_index": 0, "task": "a", "event": "START"},
            {"turn_index": 2, "task": "NONE", "event": "NONE", "digression": True},
            {"turn_index": 4, "task": "a", "event": "CONTINUE"},
        ],
    )
    assert record.labels[1].digression
    assert record.gold_active_tasks() == [None, "a", "a"]


def test_gold_active_task_is_cleared_after_end_and_none() -> None:
    records = load_dataset(FIXTURE)
    assert records[0].gold_active_tasks() == [None, "recap", "recap", "email"]
    assert records[1].gold_active_tasks() == [None]
    record = task_a_record(
        ["x", "y", "z"],
        [{"turn_index": 0, "task": "a", "event": "END"}, {"turn_index": 2, "task": "a", "event": "START"}],
    )
    assert record.gold_active_tasks() == [None, None]


def test_python_records_and_messages() -> None:
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    record = parse_records(rows)[0]
    assert record.messages_until(2) == [
        {"role": "user", "content": "Can you recap my meeting with Acme?"},
        {"role": "assistant", "content": "Sure, paste the notes."},
        {"role": "user", "content": "Add the action items too."},
    ]
    assert record.catalog().names == ["recap", "email", "flight"]


def test_examples_carry_conversation_catalogue_and_gold_state() -> None:
    examples = to_examples(load_dataset(FIXTURE))
    assert len(examples) == 7
    assert len({e.id for e in examples}) == 7
    fourth = examples[3]
    assert fourth.inputs["active_task"] == "email"
    assert fourth.inputs["messages"][-1]["content"] == "Great, that's all, thanks!"
    assert [t["name"] for t in fourth.inputs["catalog"]] == ["recap", "email", "flight"]
    assert fourth.outputs == {"event": "END", "task": "email"}
    assert to_examples(load_dataset(FIXTURE))[0].id == examples[0].id  # stable across calls


def record_line(**changes: object) -> str:
    """One JSON line of a valid one-turn record, with some fields changed."""
    return json.dumps({**ONE_TURN_RECORD, **changes}) + "\n"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json\n", ":1: not valid JSON"),
        ('["a list"]\n', "expected a JSON object"),
        ("\n", "holds no conversations"),
        (record_line(turns=[]), "does not point at a user turn"),
        (record_line(labels=[{"turn_index": 0, "task": "b", "event": "START"}]), "not in the record's tasks"),
        (record_line(labels=[{"turn_index": 0, "task": "NONE", "event": "MAYBE"}]), "labels.0.event"),
        (record_line(tasks=[{"name": "two words", "description": "A."}]), "has spaces or symbols"),
        (record_line(tasks=[]), "catalogue is empty"),
        # labels whose event and task contradict each other: no router could ever give them
        (record_line(labels=[{"turn_index": 0, "task": "NONE", "event": "START"}]), "START names the task"),
        (record_line(labels=[{"turn_index": 0, "task": "a", "event": "NONE"}]), "event NONE with task 'a'"),
        (
            record_line(labels=[{"turn_index": 0, "task": "NONE", "event": "NONE", "digression": True}]),
            "no task is active before it",
        ),
        (
            record_line(
                turns=[
                    {"role": "user", "text": "do a"},
                    {"role": "assistant", "text": "ok"},
                    {"role": "user", "text": "x"},
                ],
                labels=[
                    {"turn_index": 0, "task": "a", "event": "START"},
                    {"turn_index": 2, "task": "a", "event": "CONTINUE", "digression": True},
                ],
            ),
            "this one is CONTINUE",
        ),
    ],
)
def test_bad_files_name_the_line_and_the_fix(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DatasetError, match=r"see the benchmarks README|holds no conversations") as error:
        load_dataset(path)
    assert fragment in str(error.value)


def test_missing_file_and_bad_limit(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetError, match="positive number"):
        load_dataset(FIXTURE, limit=0)
    with pytest.raises(DatasetError, match="record #0"):
        parse_records([{"id": "x"}])


def test_a_gold_none_mid_task_is_a_digression_in_the_langsmith_examples_too() -> None:
    record = task_a_record(
        ["do a", "which one?", "what is the capital of peru", "Sorry, I can't help with that here.", "the red one"],
        [
            {"turn_index": 0, "task": "a", "event": "START"},
            {"turn_index": 2, "task": "NONE", "event": "NONE"},  # no flag: still NONE while "a" is active
            {"turn_index": 4, "task": "a", "event": "CONTINUE"},
        ],
    )
    assert record.gold_digressions() == [False, True, False]
    outputs = [example.outputs for example in to_examples([record])]
    assert outputs[1] == {"event": "NONE", "task": "NONE", "digression": True}
    assert outputs[2] == {"event": "CONTINUE", "task": "a", "after_digression": True}
    unflagged_start = task_a_record(["hello"], [{"turn_index": 0, "task": "NONE", "event": "NONE"}])
    assert unflagged_start.gold_digressions() == [False]  # nothing active: NONE, not a digression


def test_after_two_digressions_in_a_row_the_turn_after_is_the_on_topic_one() -> None:
    record = task_a_record(
        ["do a", "which one?", "weather?", "Sorry.", "a joke?", "Sorry.", "the red one", "ok", "and blue"],
        [
            {"turn_index": 0, "task": "a", "event": "START"},
            {"turn_index": 2, "task": "NONE", "event": "NONE", "digression": True},
            {"turn_index": 4, "task": "NONE", "event": "NONE", "digression": True},
            {"turn_index": 6, "task": "a", "event": "CONTINUE"},
            {"turn_index": 8, "task": "a", "event": "CONTINUE"},
        ],
    )
    assert record.gold_after_digressions() == [False, False, False, True, False]
    flagged = [bool(example.outputs.get("after_digression")) for example in to_examples([record])]
    assert flagged == [False, False, False, True, False]


def test_two_conversations_with_one_id_are_refused_naming_both(tmp_path: Path) -> None:
    """A conversation's id names its replay thread (a router's per-thread caches), its LangSmith examples (their
    ids, and the catalogue the LangSmith target routes them over) and its rows of predictions.jsonl: two records
    with one id would share them (the second conversation routed over the first one's catalogue)."""
    other = {**ONE_TURN_RECORD, "tasks": [{"name": "b", "description": "Task b."}], "labels": []}
    path = tmp_path / "twice.jsonl"
    path.write_text(record_line() + record_line(id="y") + json.dumps(other) + "\n")
    with pytest.raises(DatasetError, match=r"twice.jsonl:3.*'x'.*twice.jsonl:1") as error:
        load_dataset(path)
    assert "its own id" in str(error.value)
    with pytest.raises(DatasetError, match=r"record #1: .*'x'.*record #0"):
        parse_records([ONE_TURN_RECORD, other])
    assert [r.id for r in load_dataset(path, limit=2)] == ["x", "y"]  # the first two conversations are fine


def test_the_reply_to_a_digression_is_marked_as_the_graph_marks_it() -> None:
    record = digression_record()
    marked = {"task_router": "off_topic"}
    assert [m.get("response_metadata") for m in record.messages_until(4)] == [None, None, None, marked, None]
    assert not any("response_metadata" in m for m in record.messages_until(4, off_topic=()))  # the router missed it
    assert to_examples([record])[2].inputs["messages"][3]["response_metadata"] == marked  # gold state: gold marks


@pytest.mark.parametrize(("answer", "marked"), [("NONE", True), ("a", False)])
def test_an_own_state_replay_marks_the_replies_to_the_turns_its_router_answered_off_topic(answer, marked) -> None:
    from task_router._router_input import is_off_topic_reply
    from task_router.evaluation import replay
    from task_router.routers._base import Prediction, Router

    seen: list[list[bool]] = []

    class Reads(Router):
        kind = "reads"

        def predict(self, routing, config):
            seen.append([is_off_topic_reply(m) for m in routing.messages])
            return Prediction(None if routing.last_user_text == "weather?" and answer == "NONE" else "a")

    replay([digression_record()], Reads(), state="own", progress=False)
    assert seen[-1] == [False, False, False, marked, False]
