"""Fitting on a labelled dev set: how well a router's confidence is calibrated, and the thresholds to apply.

What ``task-router fit`` computes: ECE and reliability curves of the decisions' confidence, the abstention curve
(None recall against in-scope accuracy as the None threshold moves), the None / cascade escalation thresholds chosen
on it, and their plots. The thresholds themselves, the rule that applies them and their file are in
:mod:`task_router._thresholds`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from task_router._catalog import NONE_LABEL
from task_router._resources import require
from task_router._thresholds import ScoredTurn, apply_none


def turns_from_predictions(predictions: Sequence[Any]) -> list[ScoredTurn]:
    """Turns from replayed predictions (:class:`task_router.evaluation.TurnPrediction`), compared like
    ``task_accuracy`` in metrics.json; a decision without a confidence counts as sure (1.0): it never abstains."""
    return [
        ScoredTurn(p.task, 1.0 if p.confidence is None else float(p.confidence), p.gold_task, p.active_before)
        for p in predictions
    ]


def abstention_curve(turns: Sequence[ScoredTurn], thresholds: Sequence[float] | None = None) -> dict[str, list[float]]:
    """For each threshold: in-scope accuracy (gold task named), None recall (gold NONE -> NONE), overall accuracy.

    Example:
        >>> curve = abstention_curve([ScoredTurn("a", 0.9, "a"), ScoredTurn("a", 0.2, "NONE")], [0.1, 0.5])
        >>> curve["none_recall"], curve["in_scope_accuracy"]
        ([0.0, 1.0], [1.0, 1.0])
    """
    if not turns:
        raise ValueError("no turns to fit on: give a dev set with labelled turns")
    grid = candidate_thresholds(turns) if thresholds is None else list(thresholds)
    gold = np.array([t.gold for t in turns])
    in_scope = gold != NONE_LABEL
    out: dict[str, list[float]] = {"threshold": [], "in_scope_accuracy": [], "none_recall": [], "accuracy": []}
    for threshold in grid:
        named = np.array([apply_none(t, threshold) for t in turns])
        right = named == gold
        out["threshold"].append(float(threshold))
        out["in_scope_accuracy"].append(float(right[in_scope].mean()) if in_scope.any() else float("nan"))
        out["none_recall"].append(float(right[~in_scope].mean()) if (~in_scope).any() else float("nan"))
        out["accuracy"].append(float(right.mean()))
    return out


def candidate_thresholds(turns: Sequence[ScoredTurn], limit: int = 201) -> list[float]:
    """0, every distinct confidence (thinned to ``limit`` quantiles) and just above the largest."""
    values = np.unique([t.confidence for t in turns])
    if len(values) > limit:
        values = np.unique(np.quantile(values, np.linspace(0, 1, limit)))
    return [0.0, *values.tolist(), min(1.0, float(values.max()) + 1e-6)]


def choose_none_threshold(
    turns: Sequence[ScoredTurn], *, min_in_scope_accuracy: float | None = None
) -> tuple[float, dict]:
    """The None threshold to use, and its point on the curve.

    Default: the threshold with the best overall accuracy (ties: the lower threshold). With
    ``min_in_scope_accuracy``: the highest None recall whose in-scope accuracy stays at or above it (falls back to
    the default rule if no threshold reaches it; the returned point says ``"met": False``).
    """
    curve = abstention_curve(turns)
    rows = [dict(zip(curve, values, strict=True)) for values in zip(*curve.values(), strict=True)]
    best = max(rows, key=lambda r: (r["accuracy"], -r["threshold"]))
    point = {**best, "rule": "max accuracy"}
    if min_in_scope_accuracy is not None:
        allowed = [r for r in rows if r["in_scope_accuracy"] >= min_in_scope_accuracy]
        if allowed:
            best = max(allowed, key=lambda r: (_num(r["none_recall"]), r["accuracy"]))
            point = {**best, "rule": f"max None recall at in-scope accuracy >= {min_in_scope_accuracy}", "met": True}
        else:
            point["met"] = False
    return float(best["threshold"]), point


def choose_escalation(
    cheap: Sequence[ScoredTurn], strong: Sequence[str], *, max_escalation: float = 1.0, cost: float = 0.0
) -> tuple[float, float, dict]:
    """(none, escalate) thresholds for a cascade, and its simulated metrics on the given turns.

    ``cheap`` holds the cheap router's proposals, ``strong`` the strong router's answer on the same turns.
    A turn with cheap confidence < none gets the abstention; none <= confidence < escalate goes to the strong
    router; above, the cheap answer stands. Maximises accuracy - ``cost`` * share escalated, with at most
    ``max_escalation`` of the turns escalated.
    """
    if len(cheap) != len(strong) or not cheap:
        raise ValueError("give the cheap and strong answers for the same, non-empty list of turns")
    grid = candidate_thresholds(cheap, limit=61)
    conf = np.array([t.confidence for t in cheap])
    gold = np.array([t.gold for t in cheap])
    strong_right = np.array(strong) == gold
    best: tuple[float, float, dict] | None = None
    for i, none in enumerate(grid):
        abstained = np.array([apply_none(t, none) for t in cheap]) == gold
        cheap_right = np.array([t.proposed for t in cheap]) == gold
        for escalate in grid[i:]:
            up = (conf >= none) & (conf < escalate)
            share = float(up.mean())
            if share > max_escalation + 1e-9:
                continue
            right = np.where(up, strong_right, np.where(conf >= escalate, cheap_right, abstained))
            score = float(right.mean()) - cost * share
            if best is None or score > best[2]["objective"] + 1e-12:
                best = (float(none), float(escalate), _cascade_point(right, gold, share, score))
    assert best is not None  # grid always holds (0, 0), which escalates nothing
    return best


def _cascade_point(right: np.ndarray, gold: np.ndarray, share: float, score: float) -> dict:
    in_scope = gold != NONE_LABEL
    return {
        "accuracy": float(right.mean()),
        "in_scope_accuracy": float(right[in_scope].mean()) if in_scope.any() else float("nan"),
        "none_recall": float(right[~in_scope].mean()) if (~in_scope).any() else float("nan"),
        "escalated": share,
        "objective": score,
    }


def _num(value: float) -> float:
    return -1.0 if np.isnan(value) else value


# -- calibration of confidences --------------------------------------------------------------------------------
def reliability_curve(
    confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10
) -> dict[str, list[float]]:
    """Equal-width bins over 0..1: mean confidence, accuracy and count of the non-empty bins."""
    conf, right = _arrays(confidences, correct)
    bins = np.clip((conf * n_bins).astype(int), 0, n_bins - 1)
    out: dict[str, list[float]] = {"confidence": [], "accuracy": [], "count": []}
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            out["confidence"].append(float(conf[mask].mean()))
            out["accuracy"].append(float(right[mask].mean()))
            out["count"].append(int(mask.sum()))
    return out


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over equal-width bins.

    Example:
        >>> round(expected_calibration_error([0.9, 0.9, 0.1], [True, False, False]), 3)
        0.3
    """
    curve = reliability_curve(confidences, correct, n_bins)
    total = sum(curve["count"])
    return float(
        sum(n * abs(a - c) for c, a, n in zip(curve["confidence"], curve["accuracy"], curve["count"], strict=True))
        / total
    )


def _arrays(confidences: Sequence[float], correct: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    conf = np.asarray(confidences, dtype=float)
    right = np.asarray(correct, dtype=bool)
    if conf.shape != right.shape or conf.size == 0:
        raise ValueError("give one confidence per decision and as many correctness flags (at least one)")
    if np.isnan(conf).any() or (conf < 0).any() or (conf > 1).any():
        raise ValueError("confidences must be numbers in 0..1: drop decisions without a confidence first")
    return conf, right


def plot_reliability(confidences: Sequence[float], correct: Sequence[bool], path: Path, *, title: str) -> Path:
    """A reliability diagram (accuracy per confidence bin against the diagonal), with the ECE in the title."""
    matplotlib = require("matplotlib", extra="eval", purpose="calibration plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = reliability_curve(confidences, correct)
    ece = expected_calibration_error(confidences, correct)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.plot(curve["confidence"], curve["accuracy"], "o-", label="router")
    for c, a, n in zip(curve["confidence"], curve["accuracy"], curve["count"], strict=True):
        ax.annotate(str(n), (c, a), fontsize=7, xytext=(3, -9), textcoords="offset points")
    ax.set(xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=f"{title}\nECE {ece:.3f}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_abstention(curve: dict[str, list[float]], path: Path, *, title: str, chosen: float | None = None) -> Path:
    """None recall against in-scope accuracy as the None threshold moves (the chosen threshold marked)."""
    matplotlib = require("matplotlib", extra="eval", purpose="calibration plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(curve["in_scope_accuracy"], curve["none_recall"], ".-", markersize=3)
    if chosen is not None:
        i = int(np.argmin(np.abs(np.asarray(curve["threshold"]) - chosen)))
        x, y = curve["in_scope_accuracy"][i], curve["none_recall"][i]
        ax.plot([x], [y], "r*", markersize=12, label=f"chosen {chosen:.3f}: ({x:.3f}, {y:.3f})")
        ax.legend(loc="lower left")
    ax.set(xlabel="in-scope accuracy", ylabel="None recall", xlim=(0, 1), ylim=(0, 1.02), title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
