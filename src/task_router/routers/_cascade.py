"""The `cascade` router: a cheap router first, a stronger one only when the cheap one is unsure."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from langchain_core.runnables import RunnableConfig

from task_router._budget import DEFAULT
from task_router._catalog import TaskCatalog
from task_router._router_input import RoutingInput
from task_router._thresholds import load_thresholds
from task_router.models import ModelSpec
from task_router.routers._abstain import abstained
from task_router.routers._base import Prediction, Router
from task_router.routers._plans import Plan

CHEAP_KINDS = ("embedding", "scoring")


class CascadeRouter(Router):
    """Cheap stage, then (when its confidence is low) a strong stage; the decision's ``stage`` says which decided.

    Per turn the cheap router (``cheap``: ``"embedding"``, default, or ``"scoring"`` over ``cheap_model``) proposes
    a task with a confidence ``c``. Thresholds (fitted by ``task-router fit --router cascade``):

    - ``c >= escalate``: the cheap decision stands (``stage="cheap"``);
    - ``none <= c < escalate``: the strong router decides (``stage="strong"``);
    - ``c < none`` and the cheap router proposes a new task: abstain (NONE, or the active task continues, with
      confidence ``1 - c``: :func:`~task_router.routers._abstain.abstained`) without asking the strong router
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
