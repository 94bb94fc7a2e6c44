"""Routers that wrap or compose another router: the `RouterWrapper` base, `Abstain` and the `cascade` kind.

- :class:`RouterWrapper`: the one base of routers that wrap another (abstention, shortlist, ...).
- :class:`Abstain`: a fitted None threshold over any router kind that reports a confidence.
- :class:`CascadeRouter`, the `cascade` router: a cheap router first, a stronger one only when the cheap one is
  unsure.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.runnables import RunnableConfig

from task_router._budget import DEFAULT, Plan
from task_router._catalog import NONE_LABEL, TaskCatalog
from task_router._decision import RouteDecision
from task_router._router_input import RoutingInput
from task_router._thresholds import ScoredTurn, apply_none, load_thresholds
from task_router.models import ModelSpec
from task_router.routers._base import Prediction, Router


class RouterWrapper(Router):
    """A router that decides through ``router``: decisions keep the wrapped router's kind and model label, and
    every capability of the wrapped router (``prefill``, ``warm``, ``reranker``, ...) is reachable on the wrapper,
    however deep the wrapping, so that the graph and the CLI never need to unwrap.

    Subclasses implement :meth:`plan`, usually as ``prediction = yield from self.router.plan(routing, config)``
    on a changed input, then changing the prediction: the wrapped router's model calls then stay async under
    ``ainvoke`` (:mod:`task_router._budget`).

    Example:
        >>> from task_router.routers._base import Prediction
        >>> class Always(Router):
        ...     kind = "always"
        ...     def predict(self, routing, config):
        ...         return Prediction("recap")
        ...     def prefill(self, input, config=None):
        ...         return 0
        >>> class Same(RouterWrapper):
        ...     def plan(self, routing, config):
        ...         return (yield from self.router.plan(routing, config))
        >>> wrapped = Same(Always())
        >>> wrapped.kind, callable(getattr(wrapped, "prefill", None))
        ('always', True)
    """

    def __init__(self, router: Router, *, catalog: TaskCatalog | None = None) -> None:
        super().__init__(catalog=catalog or router.catalog, model_label=router.model_label)
        self.router = router
        # The wrapper's decision runs the wrapped router's predict within one time-out: the wrapped router's.
        self.timeout_s = router.timeout_s

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.router.kind

    @property
    def decides_in_place(self) -> bool:  # type: ignore[override]
        return self.router.decides_in_place

    def warm(self, catalog: TaskCatalog | None = None) -> None:
        self.router.warm(catalog or self.catalog)

    def finish(self, routing: RoutingInput, prediction: Prediction, latency_ms: float) -> RouteDecision:
        return self.router.finish(routing, prediction, latency_ms)  # the wrapped kind's own decision rules

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes the wrapper itself lacks: forward the wrapped router's capabilities.
        if name == "router" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.router, name)


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


CHEAP_KINDS = ("embedding", "scoring")


class CascadeRouter(Router):
    """Cheap stage, then (when its confidence is low) a strong stage; the decision's ``stage`` says which decided.

    Per turn the cheap router (``cheap``: ``"embedding"``, default, or ``"scoring"`` over ``cheap_model``) proposes
    a task with a confidence ``c``. Thresholds (fitted by ``task-router fit --router cascade``):

    - ``c >= escalate``: the cheap decision stands (``stage="cheap"``);
    - ``none <= c < escalate``: the strong router decides (``stage="strong"``);
    - ``c < none`` and the cheap router proposes a new task: abstain (NONE, or the active task continues, with
      confidence ``1 - c``: :func:`~task_router.routers._compose.abstained`) without asking the strong router
      (``stage="cheap"``).

    A cheap "nothing fits" (NONE; with a task active, an off-topic request that keeps it) or "done" (END) is no new
    task: it stands when confident and escalates otherwise.

    A cheap decision without a confidence always escalates. The strong router is any kind over any model spec
    (``strong``: a kind, default the best kind for ``model``; ``model``: the strong model). With an embedding
    cheap stage, the embedding router's own threshold is off (-1) unless given: ``none`` replaces it.
    ``timeout_s`` bounds the whole decision (both stages) and is the strong model's client time-out.

    Example:
        >>> from task_router import TaskCatalog, make_router
        >>> router = make_router("cascade", model="openai:gpt-4o-mini", escalate=0.55, none=0.3,
        ...                      catalog=TaskCatalog.demo(), shortlist=10)  # doctest: +SKIP
        >>> decision = router.invoke({"messages": [{"role": "user", "content": "Recap my meeting"}]})  # doctest: +SKIP
        >>> decision.stage  # doctest: +SKIP
        'cheap'
    """

    kind: ClassVar[str] = "cascade"
    takes_timeout: ClassVar[bool] = True

    def __init__(
        self,
        model: ModelSpec | Router = "embedded",
        *,
        catalog: TaskCatalog | None = None,
        cheap: str | Router = "embedding",
        cheap_model: ModelSpec = "embedded",
        cheap_options: dict[str, Any] | None = None,
        strong: str | None = None,
        strong_options: dict[str, Any] | None = None,
        escalate: float | None = None,
        none: float | None = None,
        thresholds: str | Path | None = None,
        timeout_s: float | str | None = DEFAULT,
    ) -> None:
        from task_router.routers import llm_router_kind, make_router

        if thresholds is not None:
            fitted = load_thresholds(thresholds)
            escalate = fitted.escalate if escalate is None else escalate
            none = fitted.none if none is None else none
        escalate = 0.5 if escalate is None else escalate
        none = 0.0 if none is None else none
        if not 0.0 <= none <= escalate <= 1.0:
            raise ValueError(
                f"cascade thresholds must satisfy 0 <= none <= escalate <= 1 (got none={none}, escalate={escalate}): "
                "fit them with `task-router fit --router cascade`"
            )
        if isinstance(cheap, Router):
            self.cheap = cheap
        elif cheap in CHEAP_KINDS:
            options = dict(cheap_options or {})
            if cheap == "embedding":
                options.setdefault("threshold", None)
            self.cheap = make_router(cheap, model=None if cheap == "embedding" else cheap_model, **options)
        else:
            raise ValueError(f"cheap stage {cheap!r} is not cheap: use one of {CHEAP_KINDS} or pass a Router")
        if isinstance(model, Router):
            self.strong = model
        else:
            strong_options = {"timeout_s": timeout_s, **(strong_options or {})}  # a network model's client time-out
            self.strong = make_router(strong or llm_router_kind(model), model=model, **strong_options)
        super().__init__(catalog=catalog, model_label=f"{self.cheap.model_label}->{self.strong.model_label}")
        self.timeout_s = timeout_s  # the whole cascade's decision: both stages
        self.escalate, self.none = escalate, none

    def plan(self, routing: RoutingInput, config: RunnableConfig) -> Plan[Prediction]:
        first = yield from self.cheap.plan(routing, config)
        confidence = first.confidence
        if confidence is not None and confidence >= self.escalate:
            return replace(first, stage="cheap")
        proposes_new = first.task is not None and first.task != routing.active_task
        if confidence is not None and confidence < self.none and proposes_new:
            note = f"cheap {first.task} {confidence:.3f} < none {self.none:.3f}: abstained"
            return replace(abstained(replace(first, rationale=None), routing.active_task, note), stage="cheap")
        second = yield from self.strong.plan(routing, config)
        shown = "none" if confidence is None else f"{confidence:.3f}"
        note = f"escalated: cheap {first.task} {shown} < {self.escalate:.3f}"
        return replace(second, rationale=f"{note}; {second.rationale}" if second.rationale else note, stage="strong")
