"""`Abstain`: a fitted None threshold over any router kind that reports a confidence."""

from __future__ import annotations

from dataclasses import replace

from langchain_core.runnables import RunnableConfig

from task_router._catalog import NONE_LABEL
from task_router._router_input import RoutingInput
from task_router._thresholds import ScoredTurn, apply_none
from task_router.routers._base import Prediction, Router
from task_router.routers._plans import Plan
from task_router.routers._wrapper import RouterWrapper


class Abstain(RouterWrapper):
    """Wraps a router: a proposed new task (START or SWITCH) whose confidence is below ``threshold`` is not taken.

    With no active task the turn becomes NONE; with one, the active task continues (never a digression: NONE with
    a task active needs the router to say that nothing fits). Decisions without a confidence, and NONE or "done"
    answers, pass unchanged. ``router`` / ``model`` in the decision are the wrapped router's. Thresholds come
    from ``task-router fit`` (see :mod:`task_router._thresholds`).

    Example:
        >>> from task_router import make_router
        >>> router = make_router("scoring", model="embedded", none_threshold=0.4)  # doctest: +SKIP
        >>> router = Abstain(make_router("embedding", model=None, threshold=None), threshold=0.45)  # doctest: +SKIP
    """

    def __init__(self, router: Router, *, threshold: float) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(
                f"the None threshold is a confidence in 0..1, got {threshold}: fit it with task-router fit"
            )
        super().__init__(router)
        self.threshold = threshold

    def plan(self, routing: RoutingInput, config: RunnableConfig) -> Plan[Prediction]:
        prediction = yield from self.router.plan(routing, config)
        if prediction.task is None or prediction.confidence is None:
            return prediction
        turn = ScoredTurn(prediction.task, prediction.confidence, "", routing.active_task)
        kept = apply_none(turn, self.threshold)
        if kept == prediction.task:
            return prediction
        note = f"abstained: {prediction.task} at confidence {prediction.confidence:.3f} < {self.threshold:.3f}"
        return abstained(prediction, None if kept == NONE_LABEL else kept, note)


def abstained(prediction: Prediction, kept: str | None, note: str) -> Prediction:
    """``prediction`` not taken: the turn keeps ``kept`` (the active task, CONTINUE; None: NONE, nothing being
    active), with confidence 1 - the proposal's, and that answer put first among the alternatives (so that the
    decision's own answer leads them and a close call between proposals that were not taken asks nothing).

    Example:
        >>> proposal = Prediction("email", confidence=0.3, alternatives=(("email", False, 0.3), ("post", False, 0.28)))
        >>> kept = abstained(proposal, "recap", "abstained")
        >>> kept.task, round(kept.confidence, 2), kept.alternatives[0]
        ('recap', 0.7, ('recap', False, 0.7))
    """
    confidence = None if prediction.confidence is None else 1.0 - prediction.confidence
    alternatives = prediction.alternatives
    if confidence is not None:
        rest = tuple(answer for answer in alternatives if answer[:2] != (kept, False))
        alternatives = ((kept, False, confidence), *rest)
    return replace(
        prediction,
        task=kept,
        closing=False,
        confidence=confidence,
        alternatives=alternatives,
        rationale=f"{note}; {prediction.rationale}" if prediction.rationale else note,
    )
