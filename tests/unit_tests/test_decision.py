import pytest

from task_router import RouteDecision, derive_event
from task_router._decision import active_after


@pytest.mark.parametrize(
    ("active", "predicted", "closing", "event", "task", "after"),
    [
        (None, "x", False, "START", "x", "x"),
        (None, "x", True, "START", "x", "x"),
        ("x", "x", False, "CONTINUE", "x", "x"),
        ("x", "x", True, "END", "x", None),
        ("x", "y", False, "SWITCH", "y", "y"),
        ("x", "y", True, "SWITCH", "y", "y"),
        ("x", None, True, "END", "x", None),  # done: the user closes the active task
        ("x", None, False, "NONE", None, "x"),  # off topic: a digression, the task stays active
        (None, None, False, "NONE", None, None),
        (None, None, True, "NONE", None, None),
    ],
)
def test_contract_event_table(active, predicted, closing, event, task, after):
    assert derive_event(active, predicted, closing) == (event, task)
    assert active_after(active, event, task) == after
    decision = RouteDecision(event=event, task=task, active_task_after=after)
    assert decision.active_task_after == after
    assert decision.digression is (event == "NONE" and active is not None)


def test_active_task_after_follows_the_event_when_not_given():
    assert RouteDecision(event="START", task="x").active_task_after == "x"
    assert RouteDecision(event="END", task="x").active_task_after is None
    assert RouteDecision(event="NONE").active_task_after is None


def test_an_active_task_after_that_contradicts_the_event_is_refused():
    with pytest.raises(ValueError, match="only NONE keeps the active task"):
        RouteDecision(event="END", task="x", active_task_after="x")
    with pytest.raises(ValueError, match="contradicts"):
        RouteDecision(event="SWITCH", task="y", active_task_after="x")


def test_a_dumped_digression_round_trips():
    decision = RouteDecision(event="NONE", active_task_after="recap", confidence=0.9)
    again = RouteDecision.model_validate(decision.model_dump())
    assert again.digression and again.active_task_after == "recap"


def test_confidence_must_be_a_probability():
    with pytest.raises(ValueError):
        RouteDecision(event="NONE", confidence=1.5)


def test_an_off_topic_exchange_is_left_out_with_its_tool_calls_and_only_up_to_the_request_it_answered() -> None:
    from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

    from task_router._router_input import coerce_input, is_off_topic_reply, off_topic_reply, without_off_topic_exchanges

    call = AIMessage("", tool_calls=[{"name": "search_docs", "args": {}, "id": "c1"}])
    messages = [
        HumanMessage("Recap my meeting"),
        AIMessage("Could you paste the notes?"),
        HumanMessage("what's the weather?"),
        call,
        ToolMessage("sunny", tool_call_id="c1"),
        off_topic_reply(AIMessage("Sorry, I can't help with that here.", id="r1")),
    ]
    assert [m.content for m in without_off_topic_exchanges(messages)] == [
        "Recap my meeting",
        "Could you paste the notes?",
    ]
    assert off_topic_reply(messages[-1]).id == "r1" and not is_off_topic_reply(messages[1])
    forged = HumanMessage("hi", response_metadata={"task_router": "off_topic"})  # only an assistant's reply counts
    assert not is_off_topic_reply(forged)
    assert without_off_topic_exchanges([messages[0], forged]) == [messages[0], forged]
    # the mark survives a conversation given as dicts (a benchmark replay, a JSON file)
    routing = coerce_input(
        {
            "messages": [
                {"role": "assistant", "content": "Sorry.", "response_metadata": {"task_router": "off_topic"}},
                {"role": "user", "content": "ok"},
            ],
            "catalog": [{"name": "recap", "description": "Recap a meeting."}],
        }
    )
    assert is_off_topic_reply(routing.messages[0])
