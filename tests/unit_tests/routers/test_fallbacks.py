"""Safety is composition: routers raise, LangChain's with_retry / with_fallbacks decide what happens then, in
make_reliable's default and in a user's own composition inside create_router_graph; the graph and the evaluation
keep a router's prefill through any composition."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelRateLimitError,
    ModelRefusalError,
    ModelTimeoutError,
)
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver

from task_router import TaskCatalog, create_router_graph, make_router
from task_router._graph import PREFILL_NODE
from task_router._router_input import RouterInputError, RoutingInput
from task_router.routers._base import Prediction, Router, underlying_router
from task_router.routers._fallbacks import (
    KEEP_ACTIVE,
    FallbackStage,
    KeepActiveRouter,
    UnusableAnswer,
    is_transient,
    make_reliable,
)
from tests.conftest import choice, scripted_model

TURN = {"messages": [{"role": "user", "content": "write the follow-up email"}]}


class Flaky(Router):
    """Fails with ``errors`` in turn, then decides ``email``; counts its attempts; has a prefill."""

    kind = "flaky"

    def __init__(self, *errors: BaseException, catalog: TaskCatalog | None = None) -> None:
        super().__init__(catalog=catalog, model_label="fake")
        self.errors, self.attempts, self.prefilled = list(errors), 0, []

    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        self.attempts += 1
        if self.errors:
            raise self.errors.pop(0)
        return Prediction("email", confidence=0.9)

    def prefill(self, input: dict, config: RunnableConfig | None = None) -> int:
        self.prefilled.append(len(input["messages"]))
        return 1


class Down(GenericFakeChatModel):
    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("down")


class HttpError(Exception):
    def __init__(self, status_code: int) -> None:
        super().__init__(f"HTTP {status_code}")
        self.status_code = status_code


def test_a_router_raises_and_the_composition_decides(catalog: TaskCatalog) -> None:
    with pytest.raises(ConnectionError):
        Flaky(ConnectionError("reset"), catalog=catalog).invoke(dict(TURN))
    router = Flaky(ConnectionError("reset"), HttpError(503), catalog=catalog)
    decision = make_reliable(router, backoff_s=0).invoke(dict(TURN))
    assert router.attempts == 3 and (decision.task, decision.valid_format, decision.stage) == ("email", True, None)


@pytest.mark.parametrize(
    ("error", "attempts", "explained"),
    [
        (HttpError(500), 3, "primary 'flaky' failed after 3 attempt(s): model error: HttpError: HTTP 500"),
        (HttpError(401), 1, "primary 'flaky' failed: model error: HttpError: HTTP 401 (not retried)"),
        (TimeoutError("timed out after 5 s"), 1, "primary 'flaky' failed: timed out after 5 s (not retried)"),
        (UnusableAnswer("no JSON"), 1, "primary 'flaky' gave no usable answer after 1 attempt(s): no JSON"),
    ],
)
def test_transient_failures_are_retried_then_the_last_stage_keeps_the_turn(
    catalog: TaskCatalog, error: Exception, attempts: int, explained: str
) -> None:
    router = Flaky(*[error] * 5, catalog=catalog)
    decision = make_reliable(router, backoff_s=0, fallback=KEEP_ACTIVE).invoke({**TURN, "active_task": "recap"})
    assert router.attempts == attempts
    assert (decision.event, decision.task, decision.router, decision.stage) == (
        "CONTINUE",
        "recap",
        "flaky",
        KEEP_ACTIVE,
    )
    assert not decision.valid_format and decision.fallback == f"fallback stage '{KEEP_ACTIVE}' decided: {explained}"


@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        (ModelRateLimitError("429"), 3),
        (ModelAPIError("502"), 3),
        (ModelConnectionError("refused"), 3),
        (ModelAuthenticationError("401"), 1),
        (ContextOverflowError("too long"), 1),
        (ModelRefusalError(), 1),
        (ModelTimeoutError("client time-out"), 1),  # retryable for LangChain, but the decision's time is spent
    ],
)
def test_langchain_model_errors_are_retried_as_they_say(catalog: TaskCatalog, error: Exception, attempts: int) -> None:
    assert is_transient(error) is (attempts > 1)
    router = Flaky(*[error] * 5, catalog=catalog)
    decision = make_reliable(router, backoff_s=0, fallback=KEEP_ACTIVE).invoke(dict(TURN))
    assert router.attempts == attempts and decision.stage == KEEP_ACTIVE
    said = f"after {attempts} attempt(s)" if attempts > 1 else "(not retried)"
    assert said in decision.fallback and type(error).__name__ in decision.fallback


def test_attempts_are_counted_per_call_sync_and_async(catalog: TaskCatalog) -> None:
    router = Flaky(*[ModelAPIError("502")] * 9, catalog=catalog)
    reliable = make_reliable(router, backoff_s=0, fallback=KEEP_ACTIVE)
    first = reliable.invoke(dict(TURN))
    second = asyncio.run(reliable.ainvoke(dict(TURN)))
    third = reliable.invoke(dict(TURN))
    assert router.attempts == 9
    for decision in (first, second, third):  # each call's own attempts, not the router's failures so far
        assert "primary 'flaky' failed after 3 attempt(s): model error: ModelAPIError: 502" in decision.fallback


def test_an_answer_without_a_decision_goes_to_the_fallback_router(catalog: TaskCatalog) -> None:
    garbage = make_router("zero-shot", model=scripted_model("no idea", "still no idea"), catalog=catalog)
    backup = make_router("zero-shot", model=scripted_model(choice("post")), catalog=catalog)
    decision = make_reliable(garbage, fallback=backup).invoke(dict(TURN))
    assert (decision.task, decision.router, decision.stage) == ("post", "zero-shot", "zero-shot")
    assert "primary 'zero-shot' gave no usable answer after 1 attempt(s)" in decision.fallback
    kept = make_router("zero-shot", model=scripted_model("no idea", "still no idea"), catalog=catalog)
    decision = make_reliable(kept, reject_invalid=False).invoke({**TURN, "active_task": "recap"})
    assert (decision.task, decision.valid_format, decision.stage) == ("recap", False, None)  # the router's own


def test_a_failing_fallback_stage_is_explained_and_the_turn_kept(catalog: TaskCatalog) -> None:
    primary = Flaky(*[HttpError(500)] * 3, catalog=catalog)
    backup = Flaky(HttpError(502), catalog=catalog)
    decision = make_reliable(primary, backoff_s=0, fallback=backup).invoke({**TURN, "active_task": "recap"})
    assert (decision.task, decision.stage) == ("recap", KEEP_ACTIVE)
    assert decision.fallback.endswith("; 'flaky' failed too: model error: HttpError: HTTP 502")


class RunNames(BaseCallbackHandler):
    """The name of every chain run started, in order."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        self.names.append(kwargs.get("name") or "")


def test_bad_input_is_not_retried_and_reaches_the_caller(catalog: TaskCatalog) -> None:
    runs = RunNames()
    bad = {"messages": [{"role": "assistant", "content": "hi"}]}
    with pytest.raises(RouterInputError, match="must end with a user message"):
        make_reliable(Flaky(catalog=catalog), backoff_s=0).invoke(bad, {"callbacks": [runs]})
    assert runs.names.count("TaskRouter[flaky]") == 1  # one attempt (a transient error gets 3: see below)
    runs = RunNames()
    make_reliable(Flaky(*[HttpError(503)] * 3, catalog=catalog), backoff_s=0).invoke(dict(TURN), {"callbacks": [runs]})
    assert runs.names.count("TaskRouter[flaky]") == 3


def test_a_users_own_composition_inside_create_router_graph(catalog: TaskCatalog) -> None:
    """The issue's example: make_router("structured", model=...).with_retry(...).with_fallbacks([...])."""
    primary = make_router("structured", model=Down(messages=iter([])))
    backup = make_router("zero-shot", model=scripted_model(choice("email"), choice("email", True)))
    composed = primary.with_retry(stop_after_attempt=2, wait_exponential_jitter=False).with_fallbacks(
        [FallbackStage(backup, primary="structured")], exception_key="error"
    )
    graph = create_router_graph(catalog, router=composed, model=None, task_graphs=_echo(catalog))
    app = graph.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "own"}}
    app.invoke({"messages": [("user", "write the follow-up email")]}, config)
    state = app.invoke({"messages": [("user", "thanks, that's all")]}, config)
    first, second = state["decisions"]
    assert (first["event"], first["task"], first["router"], first["stage"]) == (
        "START",
        "email",
        "structured",
        "zero-shot",
    )
    assert first["fallback"].endswith(
        "primary 'structured' failed after 2 attempt(s): model error: ConnectionError: down"
    )
    assert (second["event"], second["task"]) == ("END", "email") and state["active_task"] is None


def _compositions(router: Router) -> dict[str, Any]:
    return {
        "router": router,
        "make_reliable": make_reliable(router),
        "with_retry": router.with_retry(),
        "with_retry.with_fallbacks": router.with_retry().with_fallbacks([KeepActiveRouter()], exception_key="error"),
        "with_config": router.with_config(tags=["mine"]),
    }


@pytest.mark.parametrize("name", list(_compositions(KeepActiveRouter())))
def test_the_graph_keeps_prefill_through_any_composition(catalog: TaskCatalog, name: str) -> None:
    router = Flaky(catalog=catalog)
    composed = _compositions(router)[name]
    assert underlying_router(composed) is not None and underlying_router(composed).kind == "flaky"
    graph = create_router_graph(catalog, router=composed, model=None, task_graphs=_echo(catalog))
    assert PREFILL_NODE in graph.nodes
    graph.compile(checkpointer=InMemorySaver()).invoke(
        {"messages": [("user", "write the follow-up email")]}, {"configurable": {"thread_id": name}}
    )
    deadline = time.monotonic() + 30  # the prefill runs on a decision thread, after the reply
    while not router.prefilled and time.monotonic() < deadline:
        time.sleep(0.01)
    assert router.prefilled == [2]  # the user's turn and the reply, handed over after the reply


def _echo(catalog: TaskCatalog) -> dict:
    def node(state: dict) -> dict:
        return {"messages": [AIMessage(f"[{state['active_task']}] ok")]}

    return {name: node for name in catalog.names}


def test_a_timed_composition_holds_its_decisions_to_the_contract(catalog: TaskCatalog) -> None:
    """A composition may hold any Runnable, so its output is untrusted: the composition itself (the one the graph and
    the middleware invoke) holds each decision to the contract, on invoke and ainvoke alike."""
    from langchain_core.runnables import RunnableLambda

    from task_router import RouteDecision
    from task_router.routers._fallbacks import timed

    untrusted = iter(
        [RouteDecision(event="SWITCH", task="made_up"), RouteDecision(event="NONE", active_task_after="made_up")]
    )
    composed = timed(RunnableLambda(lambda turn: next(untrusted)))
    turn = {"messages": ["and the budget"], "active_task": "recap", "catalog": catalog}
    switched = composed.invoke(dict(turn))
    assert (switched.event, switched.task, switched.valid_format) == ("CONTINUE", "recap", False)
    assert "made_up" in (switched.fallback or "")
    digression = asyncio.run(composed.ainvoke(dict(turn)))
    assert (digression.event, digression.active_task_after) == ("NONE", "recap")


@pytest.mark.parametrize(
    ("untrusted", "active", "expected"),
    [
        ({"event": "END", "task": "made_up"}, "recap", ("CONTINUE", "recap", "recap", False)),  # not the active task
        ({"event": "END", "task": "email"}, "recap", ("CONTINUE", "recap", "recap", False)),  # another task
        ({"event": "END", "task": "recap"}, None, ("NONE", None, None, False)),  # nothing was active
        ({"event": "END", "task": "recap"}, "recap", ("END", "recap", None, True)),  # the active task: acted on
        ({"event": "NONE", "task": "made_up", "active_task_after": "recap"}, "recap", ("NONE", None, "recap", True)),
    ],
)
def test_a_timed_composition_acts_on_an_end_only_of_the_active_task_and_a_none_names_no_task(
    catalog: TaskCatalog, untrusted: dict, active: str | None, expected: tuple
) -> None:
    """docs/contract.md: a decision names a catalogue task or none, END the task being closed; an untrusted END of a
    task that is not active must not close the active one, and a NONE names no task."""
    from langchain_core.runnables import RunnableLambda

    from task_router import RouteDecision
    from task_router.routers._fallbacks import timed

    composed = timed(RunnableLambda(lambda turn: RouteDecision(**untrusted)))
    decision = composed.invoke({"messages": ["thanks"], "active_task": active, "catalog": catalog})
    assert (decision.event, decision.task, decision.active_task_after, decision.valid_format) == expected


@pytest.mark.parametrize("call", ["invoke", "ainvoke"])
def test_a_bad_time_out_setting_is_not_retried_and_reaches_the_caller_sync_and_async(
    catalog: TaskCatalog, call: str
) -> None:
    """A per-call router_timeout_s that is not a number of seconds is a setting to fix, as bad input is: it was
    retried (with back-off) as if transient and then hidden in a keep-active decision on invoke, while ainvoke
    raised it."""
    runs = RunNames()
    reliable = make_reliable(Flaky(catalog=catalog), retries=2, backoff_s=0, fallback=KEEP_ACTIVE)
    turn = {**TURN, "active_task": "recap"}
    config: RunnableConfig = {"configurable": {"router_timeout_s": "soon"}, "callbacks": [runs]}
    with pytest.raises(ValueError, match=r"router_timeout_s'\] must be a number of seconds"):
        reliable.invoke(turn, config) if call == "invoke" else asyncio.run(reliable.ainvoke(turn, config))
    assert runs.names.count("TaskRouter[flaky]") == 1  # one attempt: not retried
