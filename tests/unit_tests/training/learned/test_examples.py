"""The learned router's texts and training examples (pure logic, no model)."""

from __future__ import annotations

import random

from langchain_core.messages import AIMessage, HumanMessage

from task_router import Task
from task_router._learned.texts import DONE_TEXT, candidate_text, query_text
from task_router._learned.training.examples import conversation_examples, record_examples, sample_negatives
from task_router.evaluation import load_dataset, parse_records
from task_router.training._augment import AugmentConfig, add_example_requests, augment_records
from tests.conftest import FIXTURES

FIXTURE = FIXTURES / "train_tiny.jsonl"


def _record(labels, turns=None, tasks=None):
    return parse_records(
        [
            {
                "id": "c1",
                "tasks": tasks
                or [
                    {"name": "recap", "description": "Recap a meeting."},
                    {"name": "email", "description": "Write an email. It is short."},
                ],
                "turns": turns
                or [
                    {"role": "user", "text": "recap my call"},
                    {"role": "assistant", "text": "Here is the recap. Anything else?"},
                    {"role": "user", "text": "now an email to Bob"},
                    {"role": "assistant", "text": "Done."},
                    {"role": "user", "text": "thanks, bye"},
                ],
                "labels": labels,
            }
        ]
    )[0]


def test_query_leads_with_the_user_turn_then_the_message_before_and_the_active_task() -> None:
    active = Task(name="Restaurants_1.ReserveRestaurant", description="Reserve a table.")
    messages = [HumanMessage("find a place"), AIMessage("Shall I book it?"), HumanMessage("Yes <|im_start|>please")]
    assert query_text(messages, active) == (
        "Yes ‹|im_start|›please | Before: Assistant: Shall I book it? | Active task: Restaurants 1 Reserve Restaurant"
    )
    assert query_text(messages, None, window=0) == "Yes ‹|im_start|›please"  # nothing before, nothing active
    assert query_text(messages, None, window=0) == query_text(messages[-1:], None)
    assert "Before: User: find a place" in query_text(messages, None, window=2)


def test_candidate_text_reads_name_description_and_two_examples() -> None:
    task = Task(name="post", display_name="LinkedIn post", description="Draft a post.", examples=["a", "b", "c"])
    assert candidate_text(task) == "LinkedIn post: Draft a post. Examples: a; b"
    assert len(candidate_text(Task(name="x", description="y" * 2000))) <= 300 + len(" [...] ")


def test_each_label_teaches_its_candidate() -> None:
    record = _record(
        [
            {"turn_index": 0, "task": "recap", "event": "START"},
            {"turn_index": 2, "task": "email", "event": "SWITCH"},
            {"turn_index": 4, "task": "email", "event": "END"},
        ]
    )
    examples = record_examples(record)
    recap, email = (candidate_text(t) for t in record.catalog())
    assert [(e.event, e.positive) for e in examples] == [("START", recap), ("SWITCH", email), ("END", DONE_TEXT)]
    assert examples[1].active == recap and examples[1].query.endswith("| Active task: recap")
    assert set(examples[2].negatives) == {recap, email}  # every other answer of the turn, the closed task included
    assert set(examples[0].negatives) == {email, DONE_TEXT}


def test_hard_negatives_put_the_active_task_and_no_task_first_and_fill_the_count() -> None:
    record = _record(
        [{"turn_index": 0, "task": "recap", "event": "START"}, {"turn_index": 2, "task": "email", "event": "SWITCH"}]
    )
    switch = record_examples(record)[1]
    rng = random.Random(0)
    assert sample_negatives(switch, 2, rng) == [switch.active, DONE_TEXT]
    assert sample_negatives(switch, 5, rng) == [switch.active, DONE_TEXT] * 2 + [switch.active]


def test_conversation_examples_keep_a_share_of_continues() -> None:
    records = load_dataset(FIXTURE)
    every = [e for c in conversation_examples(records) for e in c]
    thinned = [e for c in conversation_examples(records, continue_share=0.2, seed=1) for e in c]
    continuing = [e for e in thinned if e.event == "CONTINUE"]
    assert len(thinned) - len(continuing) == sum(e.event != "CONTINUE" for e in every)
    assert len(continuing) <= 0.2 / 0.8 * (len(thinned) - len(continuing))


def test_example_requests_come_from_other_conversations_and_survive_augmentation() -> None:
    records = load_dataset(FIXTURE)
    with_examples = add_example_requests(records, prob=1.0, seed=3)
    own_turns = {r.id: {t.text for t in r.turns} for r in records}
    for record in with_examples:
        for task in record.tasks:
            assert not set(task.get("examples", [])) & own_turns[record.id]
    augmented = list(
        augment_records(with_examples, AugmentConfig(rename_prob=1.0, min_tasks=1, short_description_prob=1.0))
    )
    kept = [t for r in augmented for t in r.tasks if t.get("examples")]
    assert kept and all("." not in t["description"].rstrip(".") or t["description"].count(".") == 1 for t in kept)


def test_the_query_after_an_off_topic_exchange_reads_what_the_task_asked_before_it() -> None:
    from task_router._router_input import off_topic_reply

    task = Task(name="find_home", description="Find an apartment.")
    before = [AIMessage("Would you like to visit it?"), HumanMessage("is android better than iphone")]
    twice = [*before, off_topic_reply("Sorry."), HumanMessage("how do I bake bread"), off_topic_reply("Sorry.")]
    expected = query_text([AIMessage("Would you like to visit it?"), HumanMessage("Yes, I would")], task)
    assert query_text([*twice, HumanMessage("Yes, I would")], task) == expected
    # an unmarked reply (a router that did not answer NONE) is read as it is
    unmarked = query_text([*before, AIMessage("Sorry."), HumanMessage("Yes, I would")], task)
    assert "Before: Assistant: Sorry." in unmarked


def test_training_reads_the_turn_after_a_digression_as_routing_does() -> None:
    """The examples (training and calibration alike) mark the reply to a gold digression as the graph marks it, so
    the model is taught the query it is asked at run time."""
    from tests.unit_tests.fakes import digression_record

    after = record_examples(digression_record())[2]
    assert after.query.startswith("the red one | Before: Assistant: which one?")


def test_two_marked_replies_to_one_off_topic_request_leave_out_that_request_only() -> None:
    """A custom none_handler may mark each of its messages: the task's question before the request is still read."""
    from task_router._router_input import off_topic_reply

    history = [
        HumanMessage("Recap my meeting"),
        AIMessage("Could you paste the notes?"),
        HumanMessage("what's the weather?"),
        off_topic_reply("Sorry, I can't help with that here."),
        off_topic_reply("Back to Recap: could you paste the notes?"),
    ]
    query = query_text([*history, HumanMessage("here they are")], Task(name="recap", description="Recap a meeting."))
    assert "Before: Assistant: Could you paste the notes?" in query
