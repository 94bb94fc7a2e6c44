"""The router's output for one user turn, and the rules that derive its event."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Event = Literal["START", "CONTINUE", "SWITCH", "END", "NONE"]
EVENTS: tuple[Event, ...] = ("START", "CONTINUE", "SWITCH", "END", "NONE")


class RouteDecision(BaseModel):
    """What happens at one user turn (see docs/contract.md)."""

    event: Event
    task: str | None = Field(
        default=None, description="Task started/continued/switched to; for END the task being closed."
    )
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    rationale: str | None = None
    raw_output: str = ""
    valid_format: bool = True
    latency_ms: float = 0.0
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

    @property
    def active_task_after(self) -> str | None:
        """The task active once this turn is handled."""
        return self.task if self.event in ("START", "CONTINUE", "SWITCH") else None


def derive_event(active: str | None, predicted: str | None, closing: bool = False) -> tuple[Event, str | None]:
    """Turn "task active after this turn (None for no task)" + "the user is closing" into (event, task).

    The returned task is the one the decision names: the new/continued task, the closed task for END,
    None for NONE.
    """
    if active is None:
        return ("START", predicted) if predicted is not None else ("NONE", None)
    if predicted is None:
        return "END", active
    if predicted != active:
        return "SWITCH", predicted
    return ("END", active) if closing else ("CONTINUE", active)
