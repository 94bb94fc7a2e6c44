"""LangSmith evaluators for task routing, importable as ``task_router.evaluators``.

Per-turn evaluators take ``(outputs, reference_outputs)``: a RouteDecision dump and the gold ``{event, task}``
(``digression_detected`` also reads the example's ``inputs``, for the gold active task). Summary evaluators take
the lists of both for a whole experiment. Both compute their figures with
``task_router.evaluation._metrics``, the code behind ``task-router eval``'s metrics.json.

Example:
    >>> from langsmith import evaluate  # doctest: +SKIP
    >>> from task_router.evaluators import SUMMARY_EVALUATORS, TURN_EVALUATORS
    >>> evaluate(target, data=examples, evaluators=TURN_EVALUATORS,
    ...          summary_evaluators=SUMMARY_EVALUATORS)  # doctest: +SKIP
"""

from task_router.evaluators.summary import (
    SUMMARY_EVALUATORS,
    confusion_matrices,
    digression_detection,
    event_prf,
    invalid_format,
    latency,
    none_detection,
    task_accuracy,
)
from task_router.evaluators.trajectory import TRAJECTORY_EVALUATORS as TRAJECTORY_EVALUATORS
from task_router.evaluators.turn import (
    TURN_EVALUATORS,
    digression_detected,
    end_detected,
    event_is_correct,
    latency_ms,
    none_detected,
    start_detected,
    switch_detected,
    task_is_correct,
    valid_format,
)

__all__ = [
    "SUMMARY_EVALUATORS",
    "TURN_EVALUATORS",
    "confusion_matrices",
    "digression_detected",
    "digression_detection",
    "end_detected",
    "event_is_correct",
    "event_prf",
    "invalid_format",
    "latency",
    "latency_ms",
    "none_detected",
    "none_detection",
    "start_detected",
    "switch_detected",
    "task_accuracy",
    "task_is_correct",
    "valid_format",
]
