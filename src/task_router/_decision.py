"""The router's output for one user turn, and the rules that derive its event."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

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
