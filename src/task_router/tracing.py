"""How routing decisions show up in LangSmith (or any LangChain tracer).

Every decision is one chain run named ``TaskRouter[<kind>]``, nested under whatever invoked the router (the graph's
``router`` node, an agent middleware hook, an LCEL chain). The run carries:

- tags ``task_router`` and ``router:<kind>`` (local to the run: the router's own model calls do not inherit them);
- metadata ``router``, ``model``, ``catalog_version`` from the start, and the decision's ``event``, ``task``,
  ``confidence``, ``valid_format``, ``latency_ms`` (and ``fallback``) added when it ends.

The decision is only known at the end of the run. LangChain's tracers keep each run in ``run_map`` (a
``langsmith.RunTree``) until it ends and send metadata and tags with the end-of-run patch, the same way
``LangChainTracer`` adds token usage to an LLM run when it ends; :func:`record_decision` adds the decision there.

Tracing off (no ``LANGSMITH_TRACING``): nothing is sent anywhere. Tracing on with LangSmith unreachable:
conversations work unchanged (the tracer posts from a background thread); at exit langsmith's thread retries the
endpoint before giving up (measured ~12 s here), unless ``LANGSMITH_USE_DAEMON=true`` (exit at once; traces not
yet sent are dropped).

In LangSmith, filter routing runs with e.g. ``has(tags, "task_router")`` or
``and(eq(metadata_key, "event"), eq(metadata_value, "SWITCH"))``.

Example:
    >>> from langchain_core.tracers.base import BaseTracer
    >>> class Runs(BaseTracer):
    ...     def __init__(self): super().__init__(); self.runs = []
    ...     def _persist_run(self, run): self.runs.append(run)
    >>> runs = Runs()
    >>> router.invoke(routing_input, {"callbacks": [runs]})  # doctest: +SKIP
    >>> runs.runs[0].extra["metadata"]["event"]  # doctest: +SKIP
    'START'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManager
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config, patch_config

if TYPE_CHECKING:
    from langchain_core.callbacks import CallbackManagerForChainRun

    from task_router.decision import RouteDecision
    from task_router.routers.base import Router

ROUTER_TAG = "task_router"
DECISION_KEYS = ("event", "task", "confidence", "valid_format", "router", "model", "latency_ms", "fallback")


def router_tags(kind: str) -> list[str]:
    return [ROUTER_TAG, f"router:{kind}"]


def traced_config(router: Router, input: Any, config: RunnableConfig | None) -> RunnableConfig:
    """The config for one router run: the caller's callbacks plus the router's local tags and start metadata."""
    config = ensure_config(config)
    catalog = input.get("catalog") if isinstance(input, Mapping) else None
    catalog = catalog if catalog is not None else router.catalog
    metadata: dict[str, Any] = {"router": router.kind, "model": router.model_label}
    version = getattr(catalog, "version", None)
    if version is not None:
        metadata["catalog_version"] = version
    manager = CallbackManager.configure(
        inheritable_callbacks=config.get("callbacks"),
        inheritable_tags=config.get("tags"),
        local_tags=router_tags(router.kind),
        inheritable_metadata=config.get("metadata"),
        local_metadata=metadata,
    )
    return patch_config(config, callbacks=manager)


def decision_metadata(decision: RouteDecision, catalog_version: int | None = None) -> dict[str, Any]:
    """The run metadata of one decision (plain JSON values)."""
    metadata = {key: getattr(decision, key) for key in DECISION_KEYS}
    if metadata["fallback"] is None:
        del metadata["fallback"]
    if catalog_version is not None:
        metadata["catalog_version"] = catalog_version
    return metadata


def record_decision(
    run_manager: CallbackManagerForChainRun, decision: RouteDecision, catalog_version: int | None = None
) -> None:
    """Add the decision's metadata to the router's run in every tracer that records it, before the run ends."""
    metadata = decision_metadata(decision, catalog_version)
    for handler in run_manager.handlers:
        run_map = getattr(handler, "run_map", None)  # BaseTracer / AsyncBaseTracer (incl. LangChainTracer)
        run = run_map.get(str(run_manager.run_id)) if isinstance(run_map, dict) else None
        if run is not None:
            run.add_metadata(metadata)


__all__ = ["DECISION_KEYS", "ROUTER_TAG", "decision_metadata", "record_decision", "router_tags", "traced_config"]
