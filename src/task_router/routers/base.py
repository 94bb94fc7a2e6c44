"""The router base class: a LangChain Runnable from a conversation to a RouteDecision."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from langchain_core.callbacks import CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import run_in_executor

from task_router.catalog import TaskCatalog
from task_router.decision import RouteDecision, derive_event
from task_router.routers.render import RoutingInput, coerce_input
from task_router.tracing import record_decision, traced_config

logger = logging.getLogger("task_router")
_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|lsv2_[A-Za-z0-9_]{8,}|(?i:bearer)\s+[A-Za-z0-9._\-]{8,})")


def redact(error: BaseException | str) -> str:
    """An error message with anything that looks like an API key masked."""
    return _SECRET.sub("***", str(error))[:500]


@dataclass(frozen=True)
class Prediction:
    """What a router kind predicts; the base class turns it into a RouteDecision."""

    task: str | None  # the task active after this turn, None for no task
    closing: bool = False
    confidence: float | None = None
    rationale: str | None = None
    raw_output: str = ""
    valid_format: bool = True
    fallback: str | None = None
    stage: str | None = None  # which cascade stage decided, if any


class Router(Runnable[dict[str, Any], RouteDecision]):
    """Base of every router kind.

    Input: ``{"messages": [...], "active_task": str | None, "catalog": TaskCatalog | list}`` (the catalogue may
    instead be given to the constructor). Output: a :class:`RouteDecision` whose task is always in the catalogue
    at that moment, or None. Subclasses implement :meth:`predict`.
    """

    kind: ClassVar[str] = "base"

    def __init__(self, *, catalog: TaskCatalog | None = None, model_label: str = "") -> None:
        self.catalog = catalog
        self.model_label = model_label

    # -- to implement ------------------------------------------------------------------------------------
    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        raise NotImplementedError

    def warm(self, catalog: TaskCatalog | None = None) -> None:
        """Do the one-time work of the first decision now (load weights into the CPU caches, embed the
        catalogue's tasks), so that start-up is not counted as a decision's latency. Call it at start-up; kinds
        with nothing to prepare do nothing."""

    # -- composition -------------------------------------------------------------------------------------
    def with_abstention(self, threshold: float) -> Router:
        """This router, abstaining below a fitted confidence ``threshold``: a proposed new task below it is not
        taken (NONE with no active task, else the active task continues). Fit it with ``task-router fit``.

        Example:
            >>> from task_router import make_router
            >>> router = make_router("learned").with_abstention(0.35)  # doctest: +SKIP
        """
        from task_router.routers.abstain import Abstain

        return Abstain(self, threshold=threshold)

    def with_shortlist(self, k: int, **options: Any) -> Router:
        """This router, reading only the ``k`` tasks most similar to the conversation (plus the active one);
        ``options`` are those of :class:`~task_router.shortlist.Shortlist` (``window``, ``pinned``, ``retriever``).

        Example:
            >>> from task_router import make_router
            >>> router = make_router("scoring", model="embedded").with_shortlist(10)  # doctest: +SKIP
        """
        from task_router.shortlist import Shortlist

        return Shortlist(self, k=k, **options)

    # -- Runnable ----------------------------------------------------------------------------------------
    @property
    def name(self) -> str:  # type: ignore[override]
        return f"TaskRouter[{self.kind}]"

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> RouteDecision:
        # One traced run per decision: name TaskRouter[kind], tags and metadata (see task_router.tracing).
        return self._call_with_config(self._decide, input, traced_config(self, input, config), run_type="chain")

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> RouteDecision:
        # Local models compute on the CPU; run them off the event loop.
        return await run_in_executor(config, self.invoke, input, config)

    def _decide(
        self, input: Any, config: RunnableConfig, run_manager: CallbackManagerForChainRun | None = None
    ) -> RouteDecision:
        routing = coerce_input(input, self.catalog)
        start = time.perf_counter()
        try:
            prediction = self.predict(routing, config)
        except Exception as exc:  # a model failure must not lose the user's turn
            logger.warning("router %s failed, keeping the active task: %s", self.name, redact(exc))
            prediction = safe_fallback(routing, "", f"model error: {type(exc).__name__}: {redact(exc)}")
        decision = self.finish(routing, prediction, (time.perf_counter() - start) * 1000)
        if run_manager is not None:
            record_decision(run_manager, decision, routing.catalog.version)
        return decision

    def finish(self, routing: RoutingInput, prediction: Prediction, latency_ms: float) -> RouteDecision:
        """Apply the catalogue invariant and the event rules of docs/contract.md."""
        predicted, valid, fallback = prediction.task, prediction.valid_format, prediction.fallback
        if predicted is not None and predicted not in routing.catalog:
            predicted, valid = routing.active_task, False
            fallback = fallback or f"model named unknown task {prediction.task!r}; kept the active task"
        event, task = derive_event(routing.active_task, predicted, prediction.closing)
        return RouteDecision(
            event=event,
            task=task,
            confidence=prediction.confidence,
            rationale=prediction.rationale,
            raw_output=prediction.raw_output,
            valid_format=valid,
            latency_ms=latency_ms,
            router=self.kind,
            model=self.model_label,
            fallback=fallback,
            stage=prediction.stage,
        )


def safe_fallback(routing: RoutingInput, raw_output: str, reason: str) -> Prediction:
    """Keep the active task when the model's answer is unusable (or NONE when nothing is active)."""
    return Prediction(task=routing.active_task, raw_output=raw_output, valid_format=False, fallback=reason)
