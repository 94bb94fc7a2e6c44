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
