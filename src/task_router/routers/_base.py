"""The router base class: a LangChain Runnable from a conversation to a RouteDecision."""

from __future__ import annotations

import itertools
import logging
import math
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar, NoReturn
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig

from task_router._budget import DEFAULT, Offload, Plan, arun_plan, call_within, deadline, run_plan, timeout_and_origin
from task_router._catalog import TaskCatalog
from task_router._clarify import asks_between, live_choices
from task_router._decision import Alternative, RouteDecision, active_after, derive_event, record_decision, traced_config
from task_router._prompting import head_tail
from task_router._router_input import RouterInputError, RoutingInput, coerce_input

logger = logging.getLogger("task_router")
ATTEMPTS_ATTRIBUTE = "task_router_attempts"  # set on a router's exception: which attempt of a retry loop failed
MAX_DECISION_TEXT = 20_000  # characters of model text (raw output, rationale) a decision keeps
_SECRET = re.compile(r"(sk-[A-Za-z0-9_\-]{8,}|lsv2_[A-Za-z0-9_]{8,}|(?i:bearer)\s+[A-Za-z0-9._\-]{8,})")


def redact(error: BaseException | str) -> str:
    """An error message with anything that looks like an API key masked."""
    return _SECRET.sub("***", str(error))[:500]


#: One answer a router weighed: (task active after the turn or None, closing, probability).
Answer = tuple[str | None, bool, float]
MAX_ALTERNATIVES = 5


@dataclass(frozen=True)
class Prediction:
    """What a router kind predicts; the base class turns it into a RouteDecision.

    ``task`` None with ``closing`` is "done" (END of the active task); without, "nothing fits" (NONE, the active
    task stays). ``alternatives`` are the answers weighed with their probabilities, most probable first.
    """

    task: str | None  # the task active after this turn, None for no task
    closing: bool = False
    confidence: float | None = None
    rationale: str | None = None
    raw_output: str = ""
    valid_format: bool = True
    fallback: str | None = None
    stage: str | None = None  # which cascade stage decided, if any
    alternatives: tuple[Answer, ...] = ()


class Router(Runnable[dict[str, Any], RouteDecision]):
    """Base of every router kind.

    Input: ``{"messages": [...], "active_task": str | None, "catalog": TaskCatalog | list}`` (the catalogue may
    instead be given to the constructor). Output: a :class:`RouteDecision` whose task is always in the catalogue
    at that moment, or None. Subclasses implement :meth:`predict` (local work) or :meth:`plan` (model calls,
    one body for ``invoke`` and ``ainvoke``).

    Each decision reads one snapshot of the catalogue (:meth:`TaskCatalog.frozen`), is checked against the live
    catalogue when it returns (:func:`still_in_catalog`), and runs within the router's time-out (:attr:`timeout_s`,
    default 60 s, see :mod:`task_router._budget`).

    An answer the router cannot read is still a decision (``valid_format=False``, the active task kept); a failure
    (a model error, the time budget spent) raises, so that LangChain's ``with_retry`` / ``with_fallbacks`` see it.
    :func:`~task_router.reliability.make_reliable` is the documented composition (the graph, the middleware
    and the CLI use it); compose your own the same way.
    """

    kind: ClassVar[str] = "base"
    #: Seconds a decision may take before it raises DecisionTimeout (see :mod:`task_router._budget`):
    #: "default" (``TASK_ROUTER_TIMEOUT_S``, else 60 s), a number, or None for no limit. Give it to
    #: ``make_router(..., timeout_s=...)`` so that a network model's client gets it too.
    timeout_s: float | str | None = DEFAULT
    #: Mark decisions whose two most probable tasks are closer than this probability gap
    #: (``RouteDecision.clarify``, see :mod:`task_router._clarify`); None never marks one.
    clarify_margin: float | None = None
    #: Decide in the caller's thread instead of on the decision threads: for routers that never block (the
    #: keep-active safety stage), so that they decide even when every decision thread is held by a hung model.
    decides_in_place: ClassVar[bool] = False
    #: Whether the constructor takes ``timeout_s`` (it may ask a network model, whose client gets the same
    #: time-out and does not retry by itself): ``make_router`` passes it on.
    takes_timeout: ClassVar[bool] = False

    def __init__(self, *, catalog: TaskCatalog | None = None, model_label: str = "") -> None:
        self.catalog = catalog
        self.model_label = model_label

    # -- to implement: predict (local work) or plan (model calls) -------------------------------------------
    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        """The prediction for one turn, computed in place. Local kinds implement this (their ``ainvoke`` runs it
        on the decision threads, off the event loop); kinds that call a chat model implement :meth:`plan`."""
        if type(self).plan is Router.plan:
            raise NotImplementedError(f"{type(self).__name__} must implement predict() or plan()")
        return run_plan(self.plan(routing, config), config)

    def plan(self, routing: RoutingInput, config: RunnableConfig) -> Plan[Prediction]:
        """The prediction for one turn as a plan that yields its model calls (:mod:`task_router._budget`):
        one body for ``invoke`` (the calls' ``invoke``) and ``ainvoke`` (their ``ainvoke``). By default, the
        whole :meth:`predict` is one piece of local work."""
        if type(self).predict is Router.predict:
            raise NotImplementedError(f"{type(self).__name__} must implement predict() or plan()")
        return (yield Offload(self.predict, routing, config))

    def warm(self, catalog: TaskCatalog | None = None) -> None:
        """Do the one-time work of the first decision now (load weights into the CPU caches, embed the
        catalogue's tasks), so that start-up is not counted as a decision's latency. Call it at start-up; kinds
        with nothing to prepare do nothing."""

    # -- Runnable ----------------------------------------------------------------------------------------
    @property
    def name(self) -> str:  # type: ignore[override]
        return f"TaskRouter[{self.kind}]"

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> RouteDecision:
        # One traced run per decision: name TaskRouter[kind], tags and metadata (see task_router._decision).
        return self._call_with_config(
            self._decide,  # type: ignore[arg-type]  # LangChain passes config, run_manager by keyword
            input,
            traced_config(self, input, config),
            run_type="chain",
        )

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> RouteDecision:
        # The same decision on the event loop: model calls through their own async clients, local work on the
        # decision threads (see Router.plan).
        return await self._acall_with_config(
            self._adecide,  # type: ignore[arg-type]  # LangChain passes config, run_manager by keyword
            input,
            traced_config(self, input, config),
            run_type="chain",
        )

    def _start(self, input: Any, config: RunnableConfig) -> tuple[RoutingInput, float | None, str, float]:
        """The turn, its time budget and the budget's origin (read before any work, alike in sync and async: a bad
        setting is the caller's error), and the decision's start time."""
        routing = coerce_input(input, self.catalog)
        budget, origin = self._timeout(config)
        return routing, budget, origin, time.perf_counter()

    def _decide(
        self, input: Any, config: RunnableConfig, run_manager: CallbackManagerForChainRun | None = None
    ) -> RouteDecision:
        routing, budget, origin, start = self._start(input, config)
        try:
            if self.decides_in_place:
                prediction = self.predict(routing, config)
            else:
                prediction = call_within(self.predict, routing, config, timeout=budget, origin=origin)
        except Exception as exc:  # propagates: retries and fallbacks are the composition's job (routers._fallbacks)
            self._raise_failure(input, exc, run_manager)
        return self._decided(routing, prediction, start, run_manager)

    async def _adecide(
        self, input: Any, config: RunnableConfig, run_manager: AsyncCallbackManagerForChainRun | None = None
    ) -> RouteDecision:
        routing, budget, origin, start = self._start(input, config)
        try:
            async with deadline(budget, origin):  # a model's own time-out comes through as it is
                if self.decides_in_place:
                    prediction = self.predict(routing, config)
                else:
                    prediction = await arun_plan(self.plan(routing, config), config)
        except Exception as exc:
            self._raise_failure(input, exc, run_manager)
        return self._decided(routing, prediction, start, run_manager)

    def _timeout(self, config: RunnableConfig) -> tuple[float | None, str]:
        """This call's time-out and where it was set (:func:`~task_router._budget.timeout_and_origin`), read the
        same way on ``invoke`` and ``ainvoke``, before any work. A bad setting is a :class:`RouterInputError`
        naming the fix: like bad input, it is not retried and reaches the caller through any composition."""
        try:
            return timeout_and_origin(config, self.timeout_s)
        except ValueError as exc:
            raise RouterInputError(str(exc)) from None

    def _failure(self, input: Any, exc: Exception, run_manager: Any) -> Exception:
        """The exception a failed decision raises: ``exc``, marked with its retry attempt."""
        with suppress(AttributeError):  # an exception class with __slots__ keeps its message only
            setattr(exc, ATTEMPTS_ATTRIBUTE, failed_attempt(self, run_manager))
        return exc

    def _raise_failure(self, input: Any, exc: Exception, run_manager: Any) -> NoReturn:
        failure = self._failure(input, exc, run_manager)
        if failure is exc:
            raise exc
        raise failure from exc

    def _decided(self, routing: RoutingInput, prediction: Prediction, start: float, run_manager: Any) -> RouteDecision:
        decision = self.finish(routing, prediction, (time.perf_counter() - start) * 1000)
        if self.clarify_margin is not None and decision.clarify is None:
            # not a task removed while the decision was made
            decision.clarify = live_choices(asks_between(decision, self.clarify_margin), routing.catalog.live) or None
        if run_manager is not None:
            record_decision(run_manager, decision, routing.catalog.version)
        return decision

    def finish(self, routing: RoutingInput, prediction: Prediction, latency_ms: float) -> RouteDecision:
        """Apply the catalogue invariant and the event rules of docs/contract.md."""
        predicted, valid, fallback = prediction.task, prediction.valid_format, prediction.fallback
        closing, confidence = prediction.closing, unit_interval(prediction.confidence)
        if predicted is not None and predicted not in routing.catalog:
            # kept, not closed: the closing and the confidence were the made-up answer's
            predicted, valid, closing, confidence = routing.active_task, False, False, None
            fallback = fallback or f"model named unknown task {prediction.task!r}; kept the active task"
        event, task = derive_event(routing.active_task, predicted, closing)
        decision = RouteDecision(
            event=event,
            task=task,
            active_task_after=active_after(routing.active_task, event, task),
            confidence=confidence,
            alternatives=alternatives_of(routing, prediction.alternatives, first=(event, task)),
            rationale=bounded_text(prediction.rationale),
            raw_output=bounded_text(prediction.raw_output) or "",
            valid_format=valid,
            latency_ms=latency_ms,
            router=self.kind,
            model=self.model_label,
            fallback=fallback,
            stage=prediction.stage,
        )
        return still_in_catalog(routing, decision)


def alternatives_of(
    routing: RoutingInput, answers: Iterable[Answer], first: tuple[str, str | None] | None = None
) -> list[Alternative]:
    """The answers a router weighed as decisions (event and task), most probable first, the decision's own
    (``first``: its event and task) before them all whatever its probability (docs/contract.md); answers naming a
    task outside the catalogue are dropped, and at most :data:`MAX_ALTERNATIVES` are kept."""
    out: list[Alternative] = []
    for task, closing, probability in answers:
        if task is not None and task not in routing.catalog:
            continue
        p = unit_interval(probability)
        if p is None:
            continue
        event, named = derive_event(routing.active_task, task, closing)
        out.append(Alternative(event=event, task=named, probability=p))
    out.sort(key=lambda alternative: ((alternative.event, alternative.task) != first, -alternative.probability))
    return out[:MAX_ALTERNATIVES]


def failed_attempt(router: object, run_manager: Any) -> int:
    """Which attempt of a ``with_retry`` loop a failed run of ``router`` was: the number of its failed runs so far
    under the same parent run (each attempt of ``with_retry`` is a child run of the retry's run); 1 for a run with no
    parent. Read from the run manager's public ``parent_run_id``, not from LangChain's tags.

    Example:
        >>> from types import SimpleNamespace
        >>> from uuid import uuid4
        >>> attempt = SimpleNamespace(parent_run_id=uuid4())  # the run manager of each attempt of one retry loop
        >>> router = object()
        >>> failed_attempt(router, attempt), failed_attempt(router, attempt), failed_attempt(router, None)
        (1, 2, 1)
    """
    parent = getattr(run_manager, "parent_run_id", None)
    return 1 if parent is None else next(_failures_under(parent, id(router)))


@lru_cache(maxsize=4096)  # one counter per (parent run, router) that saw a failure, the oldest dropped first
def _failures_under(parent_run_id: UUID, router_id: int) -> Iterator[int]:
    return itertools.count(1)


def still_in_catalog(routing: RoutingInput, decision: RouteDecision) -> RouteDecision:
    """The decision checked against the *live* catalogue at return time (the router decided on a snapshot).

    A task removed by another thread while the decision was made cannot come back in it: a START / SWITCH /
    CONTINUE naming a task no longer in the catalogue becomes CONTINUE of the active task if that one is still
    there, else NONE; ``fallback`` and ``rationale`` say why. END and NONE pass unchanged (closing a removed task
    is harmless, and NONE names no task), but a NONE does not keep a removed task active.
    """
    live = routing.catalog.live
    if decision.event == "NONE" and decision.active_task_after is not None and decision.active_task_after not in live:
        return decision.model_copy(update={"active_task_after": None})  # the digression's task went meanwhile
    if decision.event in ("END", "NONE") or decision.task in live:
        return decision
    active = routing.active_task if routing.active_task in live else None
    note = f"task {decision.task!r} was removed from the catalogue while this decision was made; {_kept(active)}"
    logger.info("router decision changed: %s", note)
    return _keeping_active(
        decision,
        active,
        note,
        alternatives=[a for a in decision.alternatives if a.task is None or a.task in live],
        rationale=f"{note}; {decision.rationale}" if decision.rationale else note,
    )


def as_acted(decision: RouteDecision, active: str | None, catalog: TaskCatalog) -> RouteDecision:
    """A decision from any Runnable held to docs/contract.md before it is acted on: a NONE names no task and keeps
    the task active before the turn (or none, if that task left the catalogue), whatever its ``task`` and
    ``active_task_after`` say; an END closes only the task active before the turn (an END of another task, or with
    none active, keeps the active task); a START / CONTINUE / SWITCH naming a task outside the live catalogue keeps
    the active task (both: ``valid_format`` False, ``fallback`` says why). A Router's own decisions pass unchanged.

    A composition may hold any Runnable, so its output is untrusted: the one the graph and the middleware invoke
    (``TimedComposition``, :mod:`task_router.routers._fallbacks`) applies this to each of its decisions."""
    live = catalog.live
    closable = active  # the task an END may close: the active one, even if it left the catalogue meanwhile
    active = active if active is not None and active in live else None
    if decision.event == "NONE":
        if decision.active_task_after == active and decision.task is None:
            return decision
        return decision.model_copy(update={"task": None, "active_task_after": active})
    if decision.event == "END":
        if closable is not None and decision.task == closable:
            return decision
        what = f"ended task {decision.task!r}, which is not the active task"
    elif decision.task in live:
        return decision
    else:
        what = f"named task {decision.task!r}, which is not in the catalogue"
    note = f"the router {what}; {_kept(active)}"
    logger.warning("router decision changed: %s", note)
    alternatives = [a for a in decision.alternatives if a.task is None or a.task in live]
    return _keeping_active(decision, active, note, valid_format=False, alternatives=alternatives)


def _kept(active: str | None) -> str:
    return f"kept the active task {active!r}" if active else "no task is active"


def _keeping_active(decision: RouteDecision, active: str | None, note: str, **update: Any) -> RouteDecision:
    """``decision`` replaced by keeping ``active`` (CONTINUE it; NONE when no task is active), ``note`` saying why."""
    event, task = derive_event(active, active)
    kept = {"event": event, "task": task, "active_task_after": active_after(active, event, task)}
    return decision.model_copy(update={**kept, "confidence": None, "clarify": None, "fallback": note, **update})


def unit_interval(value: Any) -> float | None:
    """A confidence in [0, 1]: model and provider numbers are clamped (a probability of 1.3 from a buggy server
    becomes 1.0), and one that is not a finite number (NaN, a string) is dropped rather than failing the decision."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return min(1.0, max(0.0, number)) if math.isfinite(number) else None


def bounded_text(text: str | None, limit: int = MAX_DECISION_TEXT) -> str | None:
    """Model text kept in a decision (raw output, rationale), at most ``limit`` characters: its head and tail
    around ``[...]``, so that a model answering 200,000 characters does not bloat every checkpoint."""
    return None if text is None else head_tail(text, limit)


def safe_fallback(routing: RoutingInput, raw_output: str, reason: str) -> Prediction:
    """Keep the active task when the model's answer is unusable (or NONE when nothing is active)."""
    return Prediction(task=routing.active_task, raw_output=raw_output, valid_format=False, fallback=reason)


def underlying_router(runnable: Any) -> Router | None:
    """The Router inside a LangChain composition (``with_retry``, ``with_fallbacks``, ``with_config``, ...): its
    primary, found through the compositions' public ``bound`` / ``runnable`` fields; None if there is none.

    The graph and the evaluation reach a router's capabilities (``prefill``, ``warm``) through it: LangChain's
    ``RunnableRetry`` does not forward attributes.

    Example:
        >>> from task_router.routers._fallbacks import KeepActiveRouter
        >>> router = KeepActiveRouter()
        >>> underlying_router(router.with_retry().with_fallbacks([KeepActiveRouter()])) is router
        True
    """
    for _ in range(32):  # compositions nest a few levels; a cycle cannot loop for ever
        if isinstance(runnable, Router):
            return runnable
        runnable = getattr(runnable, "bound", None) or getattr(runnable, "runnable", None)
        if runnable is None:
            return None
    return None
