import pytest

from task_router import RouteDecision, derive_event


@pytest.mark.parametrize(
    ("active", "predicted", "closing", "event", "task", "after"),
    [
        (None, "x", False, "START", "x", "x"),
        (None, "x", True, "START", "x", "x"),
        ("x", "x", False, "CONTINUE", "x", "x"),
        ("x", "x", True, "END", "x", None),
        ("x", "y", False, "SWITCH", "y", "y"),
        ("x", "y", True, "SWITCH", "y", "y"),
        ("x", None, False, "END", "x", None),
        (None, None, False, "NONE", None, None),
    ],
)
def test_contract_event_table(active, predicted, closing, event, task, after):
    assert derive_event(active, predicted, closing) == (event, task)
    assert RouteDecision(event=event, task=task).active_task_after == after


def test_confidence_must_be_a_probability():
    with pytest.raises(ValueError):
        RouteDecision(event="NONE", confidence=1.5)
