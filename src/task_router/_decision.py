"""The router's output for one user turn, the rules that derive its event, and how a decision is traced.

How routing decisions show up in LangSmith (or any LangChain tracer): every decision is one chain run named
``TaskRouter[<kind>]``, nested under whatever invoked the router (the graph's ``router`` node, an agent middleware
hook, an LCEL chain). The run carries:

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
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.callbacks import CallbackManager
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config, patch_config
from langsmith import get_current_run_tree
from pydantic import BaseModel, Field, model_validator

if TYPE_CHECKING:
    from langchain_core.callbacks import CallbackManagerForChainRun

    from task_router.routers._base import Router


Event = Literal["START", "CONTINUE", "SWITCH", "END", "NONE"]
EVENTS: tuple[Event, ...] = ("START", "CONTINUE", "SWITCH", "END", "NONE")
TASK_EVENTS = ("START", "CONTINUE", "SWITCH")  # the events that name a task to work on


class Alternative(BaseModel):
    """One answer a router weighed for a turn, as the decision it would make, with its probability.

    Example:
        >>> Alternative(event="SWITCH", task="buy_train_tickets", probability=0.41).task
        'buy_train_tickets'
    """

    event: Event
    task: str | None = None
    probability: float = Field(ge=0.0, le=1.0)


class RouteDecision(BaseModel):
    """What happens at one user turn (see docs/contract.md).

    ``active_task_after`` is the task active once the turn is handled: the task named for START / CONTINUE /
    SWITCH, none after END, and for NONE the task that was active (an off-topic request, a *digression*, leaves
    the active task as it was; the next on-topic turn continues it). When it is not given it follows from the
    event (NONE: none), which is right for a NONE with nothing active; routers always set it.

    Example:
        >>> RouteDecision(event="NONE", active_task_after="meeting_recap").digression
        True
        >>> RouteDecision(event="END", task="meeting_recap").active_task_after is None
        True
    """

    event: Event
    task: str | None = Field(
        default=None, description="Task started/continued/switched to; for END the task being closed."
    )
    active_task_after: str | None = Field(
        default=None,
        description="The task active after this turn: the task named for START/CONTINUE/SWITCH, none after END, "
        "the unchanged active task for NONE (an off-topic request mid-task).",
    )
    confidence: float | None = Field(
        default=None, ge=0.0, le=1.0, description="Probability that this decision is right, where the router can say."
    )
    alternatives: list[Alternative] = Field(
        default_factory=list,
        description="The answers weighed, most probable first (the decision's own answer first), where the router "
        "can say.",
    )
    clarify: list[str] | None = Field(
        default=None,
        description="Tasks too close to tell apart at this turn: the graph asks the user to choose between them "
        "instead of acting on the decision (see task_router._clarify).",
    )
    rationale: str | None = None
    raw_output: str = ""
    valid_format: bool = True
    latency_ms: float = Field(
        default=0.0,
        description="Wall time of the decision in milliseconds: of the whole composition that made it (every "
        "attempt, the waits between retries, the fallback stages), not only of the stage that decided.",
    )
    router: str = ""
    model: str = ""
    fallback: str | None = Field(
        default=None, description="Why a safe fallback decision replaced the model's answer, if it did."
    )
    stage: str | None = Field(
        default=None,
        description="Which stage decided: a cascade's ('cheap' or 'strong') or a fallback stage of the composition "
        "('embedding', 'keep-active', ...); None when the router itself decided.",
    )
    stage_latency_ms: float | None = Field(
        default=None,
        description="How long the stage that decided took by itself (the router's last attempt, or the fallback "
        "stage named in `stage`), when a composition made the decision; None for a router called alone.",
    )

    @model_validator(mode="after")
    def _consistent_active_task(self) -> RouteDecision:
        expected = self.task if self.event in TASK_EVENTS else None
        if "active_task_after" not in self.model_fields_set:
            self.active_task_after = expected
        elif self.event != "NONE" and self.active_task_after != expected:
            raise ValueError(
                f"active_task_after={self.active_task_after!r} contradicts {self.event} {self.task!r}: after "
                "START/CONTINUE/SWITCH it is the task named, after END none (only NONE keeps the active task)"
            )
        return self

    @property
    def digression(self) -> bool:
        """An off-topic request while a task is active: NONE, the task stays active."""
        return self.event == "NONE" and self.active_task_after is not None


def derive_event(active: str | None, predicted: str | None, closing: bool = False) -> tuple[Event, str | None]:
    """Turn "task active after this turn (None for no task)" + "the user is closing" into (event, task).

    The returned task is the one the decision names: the new/continued task, the closed task for END,
    None for NONE. With a task active, "no task" is END when the user is closing (done, thanks, goodbye) and
    NONE otherwise: an off-topic request, after which the active task stays (:func:`active_after`).

    Example:
        >>> derive_event("recap", None, closing=True), derive_event("recap", None)
        (('END', 'recap'), ('NONE', None))
    """
    if active is None:
        return ("START", predicted) if predicted is not None else ("NONE", None)
    if predicted is None:
        return ("END", active) if closing else ("NONE", None)
    if predicted != active:
        return "SWITCH", predicted
    return ("END", active) if closing else ("CONTINUE", active)


def active_after(active: str | None, event: Event, task: str | None) -> str | None:
    """The task active after a turn: the one named by START / CONTINUE / SWITCH, none after END, unchanged by NONE.

    Example:
        >>> active_after("recap", "NONE", None), active_after("recap", "END", "recap")
        ('recap', None)
    """
    if event in TASK_EVENTS:
        return task
    return active if event == "NONE" else None


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
