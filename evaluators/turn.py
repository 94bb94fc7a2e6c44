"""Per-turn LangSmith evaluators: ``(outputs, reference_outputs) -> {"key", "score", ...}``.

``outputs`` is a RouteDecision dump (at least ``event``, ``task``, ``valid_format``, ``latency_ms``);
``reference_outputs`` is the gold ``{"event", "task"}`` of the turn. The scores come from
:mod:`task_router.evaluation.metrics`, the same code the offline runner uses.
"""

from __future__ import annotations

from typing import Any

from task_router.evaluation.metrics import TurnResult, event_correct, none_outcome, point_outcome, task_correct


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
    valid_format,
    latency_ms,
)
