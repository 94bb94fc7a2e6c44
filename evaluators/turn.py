"""Per-turn LangSmith evaluators: ``(outputs, reference_outputs) -> {"key", "score", ...}``.

``outputs`` is a RouteDecision dump (at least ``event``, ``task``, ``valid_format``, ``latency_ms``);
``reference_outputs`` is the gold ``{"event", "task"}`` of the turn (``digression: true`` for an off-topic request
while a task is active). The scores come from :mod:`task_router.evaluation._metrics`, the same code the offline
runner uses; the digression helpers (:func:`gold_digression`, :func:`predicted_digression`) read the same flags
as :class:`~task_router.evaluation.TurnResult` and, for examples without them, the example inputs' active
task.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from task_router._catalog import NONE_LABEL
from task_router.evaluation._metrics import TurnResult, event_correct, none_outcome, point_outcome, task_correct


def _turn(outputs: dict[str, Any], reference_outputs: dict[str, Any]) -> TurnResult:
    return TurnResult.from_outputs(outputs, reference_outputs)


def task_is_correct(outputs: dict[str, Any], reference_outputs: dict[str, Any]) -> dict[str, Any]:
    """1 when the decision names the gold task (None counts as NONE)."""
    turn = _turn(outputs, reference_outputs)
    return {"key": "task_correct", "score": int(task_correct(turn)), "comment": f"{turn.task} vs {turn.gold_task}"}


def event_is_correct(outputs: dict[str, Any], reference_outputs: dict[str, Any]) -> dict[str, Any]:
    turn = _turn(outputs, reference_outputs)
    return {"key": "event_correct", "score": int(event_correct(turn)), "comment": f"{turn.event} vs {turn.gold_event}"}


def _point(event: str, outputs: dict[str, Any], reference_outputs: dict[str, Any]) -> dict[str, Any]:
    outcome = point_outcome(_turn(outputs, reference_outputs), event)
    # 1 when router and label agree on whether this turn is a START/SWITCH/END point; the value says which way.
    return {"key": f"{event.lower()}_detected", "score": int(outcome in ("hit", "neither")), "value": outcome}


def start_detected(outputs: dict[str, Any], reference_outputs: dict[str, Any]) -> dict[str, Any]:
    """Agreement on "a task starts here": value is hit, miss, false_alarm or neither."""
    return _point("START", outputs, reference_outputs)


def switch_detected(outputs: dict[str, Any], reference_outputs: dict[str, Any]) -> dict[str, Any]:
    return _point("SWITCH", outputs, reference_outputs)


def end_detected(outputs: dict[str, Any], reference_outputs: dict[str, Any]) -> dict[str, Any]:
    return _point("END", outputs, reference_outputs)


def none_detected(outputs: dict[str, Any], reference_outputs: dict[str, Any]) -> dict[str, Any]:
    """Agreement on "no task fits" (gold task NONE)."""
    outcome = none_outcome(_turn(outputs, reference_outputs))
    return {"key": "none_detected", "score": int(outcome in ("hit", "neither")), "value": outcome}


def _active_before(reference_outputs: Mapping[str, Any], inputs: Mapping[str, Any] | None) -> str | None:
    """The (gold) task active before the turn: the reference's ``active_task``, else the example inputs'."""
    active = reference_outputs.get("active_task")
    if active is None and inputs:
        active = inputs.get("active_task")
    return active if active and active != NONE_LABEL else None


def gold_digression(reference_outputs: Mapping[str, Any], inputs: Mapping[str, Any] | None = None) -> bool:
    """Whether the gold label is a digression: ``digression: true``, or gold NONE while a task was active.

    Example:
        >>> gold_digression({"event": "NONE", "task": "NONE"}, {"active_task": "recap"})
        True
        >>> gold_digression({"event": "NONE", "task": "NONE"}, {"active_task": None})
        False
    """
    if reference_outputs.get("digression"):
        return True
    gold_none = reference_outputs.get("event") == "NONE" or (reference_outputs.get("task") or NONE_LABEL) == NONE_LABEL
    return gold_none and _active_before(reference_outputs, inputs) is not None


def predicted_digression(
    outputs: Mapping[str, Any],
    reference_outputs: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> bool:
    """Whether the router made a digression: NONE with the task kept active (``active_task_after``), or, for a
    decision dumped without that field, NONE while the turn's input had a task active."""
    if outputs.get("event") != "NONE":
        return False
    if outputs.get("active_task_after"):
        return True
    return "active_task_after" not in outputs and _active_before(reference_outputs or {}, inputs) is not None


def digression_outcome(
    outputs: Mapping[str, Any], reference_outputs: Mapping[str, Any], inputs: Mapping[str, Any] | None = None
) -> str:
    """hit, miss, false_alarm or neither for "an off-topic request while a task is active"."""
    gold = gold_digression(reference_outputs, inputs)
    predicted = predicted_digression(outputs, reference_outputs, inputs)
    return {(True, True): "hit", (True, False): "miss", (False, True): "false_alarm"}.get((gold, predicted), "neither")


def digression_detected(
    outputs: dict[str, Any], reference_outputs: dict[str, Any], inputs: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Agreement on "an off-topic request while a task is active, the task staying active" (gold: the reference's
    ``digression: true``, or gold NONE while a task was active, the example's ``inputs["active_task"]``; the router:
    NONE keeping the task). The value is hit, miss, false_alarm or neither.

    Example:
        >>> digression_detected({"event": "NONE", "active_task_after": "recap"},
        ...                     {"event": "NONE", "task": "NONE", "digression": True})
        {'key': 'digression_detected', 'score': 1, 'value': 'hit'}
    """
    outcome = digression_outcome(outputs, reference_outputs, inputs)
    return {"key": "digression_detected", "score": int(outcome in ("hit", "neither")), "value": outcome}


def valid_format(outputs: dict[str, Any]) -> dict[str, Any]:
    """1 when the model's raw answer was usable as is (no repair, no fallback)."""
    return {"key": "valid_format", "score": int(bool(outputs.get("valid_format", True)))}


def latency_ms(outputs: dict[str, Any]) -> dict[str, Any]:
    return {"key": "latency_ms", "score": float(outputs.get("latency_ms") or 0.0)}


TURN_EVALUATORS = (
    task_is_correct,
    event_is_correct,
    start_detected,
    switch_detected,
    end_detected,
    none_detected,
    digression_detected,
    valid_format,
    latency_ms,
)
