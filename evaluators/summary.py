"""Summary LangSmith evaluators over a whole experiment: ``(outputs, reference_outputs) -> {"results": [...]}``.

Each figure is computed by :mod:`task_router.evaluation._metrics`, exactly as in the offline runner's metrics.json.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from task_router.evaluation import _metrics as metrics
from task_router.evaluation._metrics import TurnResult
from task_router.evaluators.turn import gold_digression, predicted_digression


def _turns(outputs: Sequence[dict[str, Any]], reference_outputs: Sequence[dict[str, Any]]) -> list[TurnResult]:
    return [TurnResult.from_outputs(o, r) for o, r in zip(outputs, reference_outputs, strict=True)]


def _prf_results(prefix: str, scores: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": f"{prefix}_{name}", "score": scores[name]} for name in ("precision", "recall", "f1", "support")]


def event_prf(outputs: list[dict[str, Any]], reference_outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-event precision / recall / F1 / support (keys like ``START_f1``) and event accuracy."""
    turns = _turns(outputs, reference_outputs)
    results = [r for event, s in metrics.event_scores(turns).items() for r in _prf_results(event, s)]
    results.append({"key": "event_accuracy", "score": metrics.event_accuracy(turns)})
    return {"results": results}


def task_accuracy(outputs: list[dict[str, Any]], reference_outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """Task accuracy on every turn and task-selection accuracy on gold START/SWITCH turns."""
    turns = _turns(outputs, reference_outputs)
    return {
        "results": [
            {"key": "task_accuracy", "score": metrics.task_accuracy(turns)},
            {"key": "task_selection_accuracy", "score": metrics.task_selection_accuracy(turns)},
        ]
    }


def service_splits(outputs: list[dict[str, Any]], reference_outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """Task accuracy and START / SWITCH / END F1 on turns of services seen in training and of unseen ones
    (keys like ``unseen_task_accuracy``), where the examples carry a ``split`` (SGD); nothing otherwise."""
    results = []
    for name, figures in metrics.split_metrics(_turns(outputs, reference_outputs)).items():
        results.append({"key": f"{name}_task_accuracy", "score": figures["task_accuracy"]})
        results += [{"key": f"{name}_{e}_f1", "score": figures["events"][e]["f1"]} for e in ("START", "SWITCH", "END")]
    return {"results": results}


def none_detection(outputs: list[dict[str, Any]], reference_outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"results": _prf_results("none", metrics.none_detection(_turns(outputs, reference_outputs)))}


def digression_detection(
    outputs: list[dict[str, Any]],
    reference_outputs: list[dict[str, Any]],
    inputs: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Precision / recall / F1 / support of "an off-topic request while a task is active" (keys like
    ``digression_f1``): gold from the references' ``digression`` flags (or gold NONE while the example's input had a
    task active), predicted when the router said NONE keeping the task (see
    :func:`~task_router.evaluators.turn.digression_detected`).

    Example:
        >>> figures = digression_detection(
        ...     [{"event": "NONE", "active_task_after": "recap"}, {"event": "CONTINUE", "active_task_after": "recap"}],
        ...     [{"event": "NONE", "task": "NONE", "digression": True}, {"event": "NONE", "task": "NONE",
        ...      "digression": True}])
        >>> {result["key"]: result["score"] for result in figures["results"]}["digression_recall"]
        0.5
    """
    given = inputs if inputs is not None else [{}] * len(outputs)
    rows = list(zip(outputs, reference_outputs, given, strict=True))
    gold = [gold_digression(reference, example) for _, reference, example in rows]
    predicted = [predicted_digression(output, reference, example) for output, reference, example in rows]
    return {"results": _prf_results("digression", metrics.prf(gold, predicted))}


def confusion_matrices(outputs: list[dict[str, Any]], reference_outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """Event and task confusion matrices as values ``{"labels": [...], "matrix": [[int]]}``."""
    found = metrics.confusions(_turns(outputs, reference_outputs))
    return {"results": [{"key": f"confusion_{name}", "value": matrix} for name, matrix in found.items()]}


def latency(outputs: list[dict[str, Any]], reference_outputs: list[dict[str, Any]]) -> dict[str, Any]:
    figures = metrics.latency(_turns(outputs, reference_outputs))
    return {"results": [{"key": f"latency_{name}_ms", "score": value} for name, value in figures.items()]}


def invalid_format(outputs: list[dict[str, Any]], reference_outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"key": "invalid_format", "score": metrics.invalid_format(_turns(outputs, reference_outputs))}


SUMMARY_EVALUATORS = (
    event_prf,
    task_accuracy,
    service_splits,
    none_detection,
    digression_detection,
    confusion_matrices,
    latency,
    invalid_format,
)
