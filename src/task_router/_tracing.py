"""How routing decisions show up in LangSmith (or any LangChain tracer).

Every decision is one chain run named ``TaskRouter[<kind>]``, nested under whatever invoked the router (the graph's
``router`` node, an agent middleware hook, an LCEL chain). The run carries:

- tags ``task_router`` and ``router:<kind>`` (local to the run: the router's own model calls do not inherit them);
- metadata ``router``, ``model``, ``catalog_version`` from the start (any tracer);
- the :class:`~task_router.RouteDecision` as the run's output (any tracer);
- in LangSmith, the decision's ``event``, ``task``, ``confidence``, ``valid_format``, ``latency_ms`` (and
  ``fallback``) added to the run's metadata when it ends, so that decisions can be filtered by them.

The decision is only known at the end of the run, and LangChain's callbacks take metadata only when a run starts.
LangSmith's SDK has the public way to add metadata to a run while it runs: ``langsmith.get_current_run_tree()``
(langchain-core makes the router's run current while the router decides, when a ``LangChainTracer`` traces it)
and ``RunTree.add_metadata``; the tracer sends it with the end-of-run patch. :func:`record_decision` does that.
Other tracers read the decision from the run's output.

Tracing off (no ``LANGSMITH_TRACING``): nothing is sent anywhere. Tracing on with LangSmith unreachable:
conversations work unchanged (the tracer posts from a background thread); at exit langsmith's thread retries the
endpoint before giving up (measured ~12 s here), unless ``LANGSMITH_USE_DAEMON=true`` (exit at once; traces not
yet sent are dropped).

In LangSmith, filter routing runs with e.g. ``has(tags, "task_router")``,
``and(eq(metadata_key, "event"), eq(metadata_value, "SWITCH"))`` or
``and(eq(metadata_key, "task"), eq(metadata_value, "post"))``.

Example:
    >>> from langchain_core.tracers import LangChainTracer
    >>> tracer = LangChainTracer(project_name="routing")  # what LANGSMITH_TRACING=true adds  # doctest: +SKIP
    >>> decision = router.invoke(routing_input, {"callbacks": [tracer]})  # doctest: +SKIP
    >>> tracer.latest_run.extra["metadata"]["event"]  # doctest: +SKIP
    'START'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import CallbackManager
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config, patch_config
from langsmith import get_current_run_tree

if TYPE_CHECKING:
    from langchain_core.callbacks import CallbackManagerForChainRun

    from task_router._decision import RouteDecision
    from task_router.routers._base import Router

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
    """Add the decision's metadata to the router's run in LangSmith, before the run ends.

    Call it while the router's run is the current one (inside the function that ``Runnable._call_with_config``
    runs). Without LangSmith tracing there is no current run tree and nothing happens; a current run that is not
    this router's (an enclosing ``@traceable`` with no ``LangChainTracer`` on the router's callbacks) is left as
    it is.

    Args:
        run_manager: The callback manager of the router's chain run.
        decision: The decision the router returns.
        catalog_version: The catalogue version the decision was made against.
    """
    run = get_current_run_tree()
    if run is not None and run.id == run_manager.run_id:
        run.add_metadata(decision_metadata(decision, catalog_version))


__all__ = ["DECISION_KEYS", "ROUTER_TAG", "decision_metadata", "record_decision", "router_tags", "traced_config"]
