"""Routing metrics of docs/contract.md, shared by the offline runner and the LangSmith evaluators.

The evaluators are :mod:`task_router.evaluators`.

Conventions: a decision's task None counts as ``"NONE"``; precision, recall and F1 are 0.0 when their
denominator is empty (nothing predicted / nothing to find), as scikit-learn's ``zero_division=0``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from task_router._calibration import expected_calibration_error
from task_router._catalog import NONE_LABEL
from task_router._clarify import margin_of
from task_router._decision import EVENTS, TASK_EVENTS, Alternative

SELECTION_EVENTS = ("START", "SWITCH")


@dataclass(frozen=True)
class TurnResult:
    """A router's decision at one labelled user turn next to the gold label (the unit every metric reads)."""

    gold_event: str
    gold_task: str  # a task name or "NONE"
    event: str
    task: str  # a task name or "NONE"
    valid_format: bool = True
    latency_ms: float = 0.0
    split: str | None = None  # "seen" / "unseen": was the gold task's service in the training data (SGD)
    gold_digression: bool = False  # gold NONE while a task is active (an off-topic request; the task stays)
    digression: bool = False  # the router said NONE while a task was active
    after_digression: bool = False  # the first labelled turn after a gold digression
    confidence: float | None = None  # the decision's probability of being right, where the router says
    margin: float | None = None  # gap between its two most probable tasks; None for NONE / END (task_router._clarify)

    @classmethod
    def from_outputs(cls, outputs: Mapping[str, Any], reference: Mapping[str, Any]) -> TurnResult:
        """From a run's outputs (a RouteDecision dump) and an example's reference outputs ({event, task}, and
        optionally ``digression`` / ``after_digression`` flags and ``split``)."""
        event = str(outputs.get("event", "NONE"))
        confidence = outputs.get("confidence")
        return cls(
            gold_event=str(reference["event"]),
            gold_task=task_label(reference.get("task")),
            event=event,
            task=task_label(outputs.get("task")),
            valid_format=bool(outputs.get("valid_format", True)),
            latency_ms=float(outputs.get("latency_ms") or 0.0),
            split=reference.get("split"),
            gold_digression=bool(reference.get("digression", False)),
            digression=event == "NONE" and outputs.get("active_task_after") is not None,
            after_digression=bool(reference.get("after_digression", False)),
            confidence=None if confidence is None else float(confidence),
            margin=_margin(outputs.get("alternatives") or ())
            if event in TASK_EVENTS
            else None,  # never asked on NONE/END
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def task_label(task: str | None) -> str:
    return task if task else NONE_LABEL


def _margin(alternatives: Sequence[Any]) -> float | None:
    try:
        parsed = [a if isinstance(a, Alternative) else Alternative.model_validate(a) for a in alternatives]
    except ValueError:  # provider or hand-made data that is not a list of alternatives: no margin, no failure
        return None
    return margin_of(parsed)


# -- per turn --------------------------------------------------------------------------------------------------
def task_correct(turn: TurnResult) -> bool:
    return turn.task == turn.gold_task


def event_correct(turn: TurnResult) -> bool:
    return turn.event == turn.gold_event


def point_outcome(turn: TurnResult, event: str) -> str:
    """Whether the turn is a gold ``event`` point and the router saw it: hit, miss, false_alarm or neither."""
    return _outcome(turn.gold_event == event, turn.event == event)


def none_outcome(turn: TurnResult) -> str:
    """Whether the gold task is NONE and the router said so: hit, miss, false_alarm or neither."""
    return _outcome(turn.gold_task == NONE_LABEL, turn.task == NONE_LABEL)


def _outcome(gold: bool, predicted: bool) -> str:
    return {(True, True): "hit", (True, False): "miss", (False, True): "false_alarm"}.get((gold, predicted), "neither")


# -- over turns ------------------------------------------------------------------------------------------------
def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator else 0.0


def prf(gold: Sequence[bool], predicted: Sequence[bool]) -> dict[str, Any]:
    """Precision, recall, F1 and support (gold positives) of one binary class."""
    true_pos = sum(g and p for g, p in zip(gold, predicted, strict=True))
    precision = _ratio(true_pos, sum(predicted))
    recall = _ratio(true_pos, sum(gold))
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": int(sum(gold))}


def task_accuracy(turns: Sequence[TurnResult]) -> float:
    return _ratio(sum(map(task_correct, turns)), len(turns))


def event_accuracy(turns: Sequence[TurnResult]) -> float:
    return _ratio(sum(map(event_correct, turns)), len(turns))


def task_selection_accuracy(turns: Sequence[TurnResult]) -> float:
    """On turns whose gold event is START or SWITCH: the right task was named."""
    selecting = [t for t in turns if t.gold_event in SELECTION_EVENTS]
    return _ratio(sum(map(task_correct, selecting)), len(selecting))


def event_scores(turns: Sequence[TurnResult]) -> dict[str, dict[str, Any]]:
    return {event: prf([t.gold_event == event for t in turns], [t.event == event for t in turns]) for event in EVENTS}


def none_detection(turns: Sequence[TurnResult]) -> dict[str, Any]:
    return prf([t.gold_task == NONE_LABEL for t in turns], [t.task == NONE_LABEL for t in turns])


def digression_detection(turns: Sequence[TurnResult]) -> dict[str, Any]:
    """Off-topic requests while a task is active: the router said NONE with a task active (its own active task)."""
    return prf([t.gold_digression for t in turns], [t.digression for t in turns])


def after_digression(turns: Sequence[TurnResult]) -> dict[str, Any]:
    """The first labelled turn after each gold digression: is the task right (usually a CONTINUE of the task the
    digression interrupted)?"""
    after = [t for t in turns if t.after_digression]
    return {"task_accuracy": task_accuracy(after), "n": len(after)}


def calibration(turns: Sequence[TurnResult]) -> dict[str, Any]:
    """ECE of the decisions' confidence against task correctness, over the turns whose decision has one."""
    scored = [t for t in turns if t.confidence is not None]
    if not scored:
        return {"ece": None, "n": 0}
    confidences = [min(1.0, max(0.0, float(t.confidence or 0.0))) for t in scored]
    return {"ece": expected_calibration_error(confidences, [task_correct(t) for t in scored]), "n": len(scored)}


def same_service_errors(turns: Sequence[TurnResult]) -> dict[str, Any]:
    """Turns where the router named a task of the gold task's own service (``<Service>.<Intent>`` names, as in
    SGD: "find trains" for "buy train tickets"), the close-task confusion that asking resolves.

    Example:
        >>> same_service_errors([TurnResult("START", "Trains_1.GetTrainTickets", "START", "Trains_1.FindTrains")])
        {'n': 1, 'share_of_errors': 1.0}
    """
    errors = [t for t in turns if not task_correct(t)]
    same = sum(
        "." in t.task and "." in t.gold_task and t.task.split(".", 1)[0] == t.gold_task.split(".", 1)[0] for t in errors
    )
    return {"n": same, "share_of_errors": _ratio(same, len(errors))}


RISK_COVERAGE_MARGINS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def risk_coverage(turns: Sequence[TurnResult], margins: Sequence[float] = RISK_COVERAGE_MARGINS) -> list[dict]:
    """What asking between close tasks would buy: for each margin, the share of turns the graph would ask on (its
    two most probable tasks closer than the margin) and the errors left on the turns it would not ask on, counting
    each asked turn as settled by the user's answer (the carried-over errors a settled turn would also prevent
    are not credited: the gain is a lower bound).

    Example:
        >>> turns = [TurnResult("START", "a", "START", "b", margin=0.01), TurnResult("START", "a", "START", "a")]
        >>> risk_coverage(turns, [0.05])[0]["errors_removed"]
        1.0
    """
    errors = [not task_correct(t) for t in turns]
    total_errors = sum(errors)
    rows = []
    for margin in margins:
        asked = [t.margin is not None and t.margin < margin for t in turns]
        removed = sum(e and a for e, a in zip(errors, asked, strict=True))
        rows.append(
            {
                "margin": margin,
                "asked": _ratio(sum(asked), len(turns)),
                "errors_left": _ratio(total_errors - removed, len(turns)),
                "errors_removed": _ratio(removed, total_errors),
            }
        )
    return rows


def invalid_format(turns: Sequence[TurnResult]) -> int:
    return sum(not t.valid_format for t in turns)


def latency(turns: Sequence[TurnResult]) -> dict[str, float]:
    """p50 / p95 (linear interpolation between order statistics) and mean, in milliseconds."""
    values = np.array([t.latency_ms for t in turns], dtype=float)
    if values.size == 0:
        return {"p50": 0.0, "p95": 0.0, "mean": 0.0}
    return {
        "p50": float(np.percentile(values, 50)),
        "p95": float(np.percentile(values, 95)),
        "mean": float(values.mean()),
    }


def confusion(gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Rows are gold labels, columns predicted labels, in ``labels`` order."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for g, p in zip(gold, predicted, strict=True):
        matrix[index[g]][index[p]] += 1
    return {"labels": list(labels), "matrix": matrix}


def task_labels(turns: Sequence[TurnResult]) -> list[str]:
    """Every task seen as gold or predicted, most frequent gold first, NONE last."""
    counts = Counter(t.gold_task for t in turns)
    names = ({t.gold_task for t in turns} | {t.task for t in turns}) - {NONE_LABEL}
    return [*sorted(names, key=lambda name: (-counts[name], name)), NONE_LABEL]


def confusions(turns: Sequence[TurnResult]) -> dict[str, Any]:
    return {
        "events": confusion([t.gold_event for t in turns], [t.event for t in turns], EVENTS),
        "tasks": confusion([t.gold_task for t in turns], [t.task for t in turns], task_labels(turns)),
    }


def split_metrics(turns: Sequence[TurnResult]) -> dict[str, dict[str, Any]]:
    """The quality figures of each split of the turns ("seen" / "unseen" services), where turns carry one:
    generalization to tasks never trained on, next to the same figures on trained ones.

    Example:
        >>> turns = [TurnResult("START", "a", "START", "a", split="seen"),
        ...          TurnResult("START", "b", "START", "a", split="unseen")]
        >>> {name: s["task_accuracy"] for name, s in split_metrics(turns).items()}
        {'seen': 1.0, 'unseen': 0.0}
    """
    names = sorted({t.split for t in turns if t.split is not None})
    splits: dict[str, dict[str, Any]] = {}
    for name in names:
        part = [t for t in turns if t.split == name]
        splits[name] = {
            "n_turns": len(part),
            "task_accuracy": task_accuracy(part),
            "task_selection_accuracy": task_selection_accuracy(part),
            "event_accuracy": event_accuracy(part),
            "events": event_scores(part),
            "none_detection": none_detection(part),
        }
    return splits


def compute_metrics(turns: Sequence[TurnResult]) -> dict[str, Any]:
    """Every figure of docs/contract.md's metrics.json that depends on the turns (not dataset/model/router/counts).

    ``splits`` (seen / unseen services) is present only when the turns carry a split.

    Example:
        >>> turns = [TurnResult("START", "recap", "START", "recap"), TurnResult("END", "recap", "CONTINUE", "recap")]
        >>> compute_metrics(turns)["event_accuracy"]
        0.5
    """
    splits = split_metrics(turns)
    return {
        "task_accuracy": task_accuracy(turns),
        "task_selection_accuracy": task_selection_accuracy(turns),
        "events": event_scores(turns),
        "event_accuracy": event_accuracy(turns),
        "none_detection": none_detection(turns),
        "digressions": digression_detection(turns),
        "after_digression": after_digression(turns),
        "calibration": calibration(turns),
        "risk_coverage": risk_coverage(turns),
        "same_service_errors": same_service_errors(turns),
        "invalid_format": invalid_format(turns),
        "latency_ms": latency(turns),
        "confusion": confusions(turns),
        **({"splits": splits} if splits else {}),
    }
