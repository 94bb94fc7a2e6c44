"""`make_reliable_router`: a router kind built for unreliable models, composed with LangChain's retries and
fallbacks (:func:`task_router.reliability.make_reliable`)."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import Runnable

from task_router._decision import RouteDecision
from task_router.models import ModelSpec, load_chat_model
from task_router.routers import make_router
from task_router.routers._fallbacks import FallbackSpec, make_reliable


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
) -> Runnable[dict[str, Any], RouteDecision]:
    """``make_router(kind, model=...)`` with a time-out per attempt, composed by
    :func:`~task_router.reliability.make_reliable` (retries of transient failures, then ``fallback``, then
    keep the active task).

    For an ``openai:`` spec the chat model gets ``timeout=timeout_s`` and ``max_retries=0``: the HTTP call is
    bounded by the same time-out and retries happen only in the composition (not multiplied by the client's own).
    ``config["configurable"]["router_timeout_s"]`` overrides ``timeout_s`` for one call.

    Example:
        >>> from task_router.reliability import make_reliable_router
        >>> router = make_reliable_router("structured", model="openai:gpt-4o-mini", timeout_s=10,
        ...                               base_url="http://127.0.0.1:8000/v1")  # doctest: +SKIP
    """
    if timeout_s is not None and not timeout_s > 0:
        raise ValueError(f"timeout_s must be a positive number of seconds (or None for no limit), got {timeout_s}")
    if isinstance(model, str) and model.startswith("openai:"):
        client_timeout = timeout_s if timeout_s is not None else 60
        model = load_chat_model(model, base_url=base_url, timeout=client_timeout, max_retries=0)
    primary = make_router(kind, model=model, timeout_s=timeout_s, **options)
    return make_reliable(primary, retries=retries, backoff_s=backoff_s, max_backoff_s=max_backoff_s, fallback=fallback)
