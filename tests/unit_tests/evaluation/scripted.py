"""A scripted router for the evaluation tests: fixed answers and latencies per user message (no model)."""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig

from task_router._decision import RouteDecision
from task_router._router_input import RoutingInput
from task_router.routers._base import Prediction, Router
from tests.conftest import FIXTURES

FIXTURE = FIXTURES / "eval_small.jsonl"
INVALID = Prediction(task=None, raw_output="I like turtles", valid_format=False, fallback="unparseable answer")

# last user message -> (the task active after the turn, as the "model" predicts it; latency in ms)
SCRIPT: dict[str, tuple[Prediction, float]] = {
    "Can you recap my meeting with Acme?": (Prediction("recap", raw_output='{"task": "recap"}'), 10.0),
    "Add the action items too.": (Prediction("recap", raw_output='{"task": "recap"}'), 20.0),
    # a missed switch, then closing the wrong task in own state
    "Now write a follow-up email to them.": (Prediction("recap", raw_output='{"task": "recap"}'), 30.0),
    "Great, that's all, thanks!": (Prediction(None, closing=True, raw_output='{"task": "DONE"}'), 40.0),
    "What is the weather on Mars?": (INVALID, 50.0),
    "Book me a flight to Oslo.": (Prediction(None, raw_output='{"task": "NONE"}'), 60.0),  # false NONE
    "Make it Friday.": (Prediction("flight", raw_output='{"task": "flight"}'), 100.0),
}


class ScriptedRouter(Router):
    kind = "scripted"

    def __init__(self) -> None:
        super().__init__(model_label="script")
        self.thread_ids: list[str] = []

    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        self.thread_ids.append(config.get("configurable", {}).get("thread_id", ""))
        return SCRIPT[routing.last_user_text][0]

    def finish(self, routing: RoutingInput, prediction: Prediction, latency_ms: float) -> RouteDecision:
        return super().finish(routing, prediction, SCRIPT[routing.last_user_text][1])
