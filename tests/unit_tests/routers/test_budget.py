"""Issue 16, item 4: a hung or slow model never holds a turn for ever. Every router kind raises DecisionTimeout
when its time budget is spent; composed with make_reliable (as the graph, the middleware and the CLI do), the safe
fallback then decides and the decision says why (fake models that hang until released)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from task_router import TaskCatalog, make_router
from task_router._budget import (
    DEFAULT,
    DEFAULT_TIMEOUT_S,
    TIMEOUT_ENV,
    DecisionTimeout,
    resolve_timeout,
    timeout_and_origin,
)
from task_router._learned.model import LearnedConfig, LearnedModel
from task_router._learned.router import LearnedRouter
from task_router.routers._base import Router
from task_router.routers._compose import CascadeRouter
from task_router.routers._embedding import EmbeddingRouter
from task_router.routers._fallbacks import make_reliable
from tests.conftest import choice
from tests.unit_tests.routers.hanging import (
    RELEASE,
    HangingRouter,
    hanging_router,
    release_hung_fakes,  # noqa: F401 (an autouse fixture: it runs for each test here)
)

BUDGET = 0.3
# The fakes hang for 30 s: a decision back well before that was cut by its time-out. The bound is loose so that a
# busy machine cannot fail it (no test depends on the machine's speed).
WELL_UNDER_THE_HANG_S = 10.0
TURN = "write the follow-up email"


class HangingChatModel(GenericFakeChatModel):
    """A chat model that hangs (until the test ends) before answering."""

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        RELEASE.wait(30)
        return super()._generate(*args, **kwargs)


class HangingEncoder:
    """An encoder that embeds the catalogue at once but hangs on the user's turn."""

    def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        if any(TURN in t for t in texts):
            RELEASE.wait(30)
        return np.ones((len(texts), 4), dtype=np.float32) / 2


def _answer(kind: str) -> str:
    return '{"task": "email"}' if kind != "react" else 'Action: final_answer[{"task": "email"}]'


def _routers(catalog: TaskCatalog) -> dict[str, Router]:
    chat = {
        kind: make_router(
            kind,
            model=HangingChatModel(messages=iter([AIMessage(_answer(kind))] * 3)),
            catalog=catalog,
            timeout_s=BUDGET,
        )
        for kind in ("structured", "zero-shot", "few-shot-cot", "react")
    }
    embedding = EmbeddingRouter(catalog=catalog, encoder=HangingEncoder(), closing_phrases=[])
    learned_model = LearnedModel(
        bi_encoder=None, cross_encoder=None, config=LearnedConfig(), path=Path("fake")
    )  # embed() replaced below: the bi-encoder hangs on the turn
    learned_model.embed = HangingEncoder().encode  # type: ignore[method-assign]
    learned = LearnedRouter(catalog=catalog, model=learned_model)
    cascade = CascadeRouter(HangingRouter(), cheap=HangingRouter(), catalog=catalog)
    for router in (embedding, learned, cascade):
        router.timeout_s = BUDGET
    return {**chat, "embedding": embedding, "learned": learned, "cascade": cascade}


@pytest.mark.parametrize(
    "kind", ["structured", "zero-shot", "few-shot-cot", "react", "embedding", "learned", "cascade"]
)
@pytest.mark.parametrize(("active", "expected"), [("recap", ("CONTINUE", "recap")), (None, ("NONE", None))])
def test_a_hung_model_gives_the_safe_fallback_within_the_budget(
    catalog: TaskCatalog, kind: str, active: str | None, expected: tuple
) -> None:
    router = _routers(catalog)[kind]
    start = time.perf_counter()
    with pytest.raises(DecisionTimeout, match=f"timed out after {BUDGET:g} s"):
        router.invoke({"messages": [TURN], "active_task": active})  # the router raises: composition decides
    assert time.perf_counter() - start < WELL_UNDER_THE_HANG_S
    start = time.perf_counter()
    decision = make_reliable(router, fallback=None).invoke({"messages": [TURN], "active_task": active})
    elapsed = time.perf_counter() - start
    assert elapsed < WELL_UNDER_THE_HANG_S, f"{kind} took {elapsed:.2f} s"
    assert "(not retried)" in decision.fallback  # a time-out is not retried: the budget is spent
    assert (decision.event, decision.task, decision.valid_format) == (*expected, False)
    assert f"timed out after {BUDGET:g} s" in decision.fallback
    assert "timeout_s" in decision.rationale  # names the setting to raise


def test_the_budget_can_be_set_per_call_and_per_process(catalog: TaskCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    router = HangingRouter(catalog=catalog)
    assert router.timeout_s == "default" and resolve_timeout(None, "default") == DEFAULT_TIMEOUT_S == 60.0
    start = time.perf_counter()
    with pytest.raises(DecisionTimeout, match=r"after 0\.2 s"):
        router.invoke({"messages": ["x"]}, {"configurable": {"router_timeout_s": 0.2}})
    assert time.perf_counter() - start < WELL_UNDER_THE_HANG_S
    monkeypatch.setenv(TIMEOUT_ENV, "0.25")
    with pytest.raises(DecisionTimeout, match=r"after 0\.25 s"):
        router.invoke({"messages": ["x"]})
    monkeypatch.setenv(TIMEOUT_ENV, "none")
    assert resolve_timeout(None, "default") is None
    assert resolve_timeout({"configurable": {"router_timeout_s": None}}, 5.0) is None  # a call may lift the limit


def test_a_fast_model_is_not_affected(catalog: TaskCatalog) -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage('{"task": "email", "closing": false}')]))
    router = make_router("zero-shot", model=model, catalog=catalog, timeout_s=5)
    decision = router.invoke({"messages": ["write the follow-up email"]})
    assert (decision.event, decision.task, decision.valid_format, decision.fallback) == ("START", "email", True, None)


@pytest.mark.parametrize("value", [0, -1, "soon", float("nan")])
def test_a_bad_budget_is_refused_with_the_fix(value: object) -> None:
    with pytest.raises(ValueError, match="number of seconds"):
        make_router("zero-shot", model=GenericFakeChatModel(messages=iter([])), timeout_s=value)


def test_the_reliable_composition_gives_the_fallback_stage_the_turn(catalog: TaskCatalog) -> None:
    backup = make_router(
        "zero-shot", model=GenericFakeChatModel(messages=iter([AIMessage(json.dumps(choice("email")))]))
    )
    router = make_reliable(hanging_router(catalog, 0.2), fallback=backup, retries=0)
    decision = router.invoke({"messages": ["write the follow-up email"]})
    assert (decision.task, decision.stage) == ("email", "zero-shot")
    assert "timed out after 0.2 s" in decision.fallback
    backup = make_router("zero-shot", model=GenericFakeChatModel(messages=iter([AIMessage('{"task": "email"}')])))
    router = make_reliable(hanging_router(catalog, 60), fallback=backup, retries=0)
    decision = router.invoke({"messages": ["write the follow-up email"]}, {"configurable": {"router_timeout_s": 0.2}})
    assert decision.stage == "zero-shot" and "timed out after 0.2 s" in decision.fallback  # the per-call key


WHERE_SET = {"router": "make_router(..., timeout_s=...)", "environment": TIMEOUT_ENV, "config": "['router_timeout_s']"}


@pytest.mark.parametrize("call", ["invoke", "ainvoke"])
@pytest.mark.parametrize("set_by", sorted(WHERE_SET))
def test_a_time_out_names_where_it_was_set(
    catalog: TaskCatalog, monkeypatch: pytest.MonkeyPatch, call: str, set_by: str
) -> None:
    """So that a user knows what to change: the router's timeout_s, the environment variable or the call's config
    key, not always "the decision's timeout_s"."""
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    router, config = HangingRouter(catalog=catalog), {}
    if set_by == "router":
        router.timeout_s = 0.2
    elif set_by == "environment":
        monkeypatch.setenv(TIMEOUT_ENV, "0.2")
    else:
        config = {"configurable": {"router_timeout_s": 0.2}}
    with pytest.raises(DecisionTimeout) as caught:
        if call == "invoke":
            router.invoke({"messages": [TURN]}, config)
        else:
            asyncio.run(router.ainvoke({"messages": [TURN]}, config))
    message = str(caught.value)
    assert message.startswith("timed out after 0.2 s") and WHERE_SET[set_by] in message
    assert [where for other, where in WHERE_SET.items() if other != set_by and where in message] == []


def test_the_default_time_out_names_both_ways_to_change_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    seconds, origin = timeout_and_origin(None, DEFAULT)
    assert seconds == DEFAULT_TIMEOUT_S and "default" in origin
    assert WHERE_SET["router"] in origin and TIMEOUT_ENV in origin


@pytest.mark.parametrize("seconds", [float("inf"), 1e12])
@pytest.mark.parametrize("call", ["invoke", "ainvoke"])
def test_a_time_out_too_long_to_wait_for_is_no_limit_in_sync_and_async(
    catalog: TaskCatalog, call: str, seconds: float
) -> None:
    """A positive number is accepted as a time-out; one beyond what a thread can wait for (threading.TIMEOUT_MAX)
    means no limit, as it does in async, instead of an OverflowError on every sync decision."""
    router = make_router("zero-shot", model=GenericFakeChatModel(messages=iter([AIMessage('{"task": "email"}')])))
    turn, config = {"messages": [TURN], "catalog": catalog}, {"configurable": {"router_timeout_s": seconds}}
    decision = router.invoke(turn, config) if call == "invoke" else asyncio.run(router.ainvoke(turn, config))
    assert (decision.event, decision.task) == ("START", "email")


def test_an_infinite_time_out_reaches_a_network_client_as_no_limit() -> None:
    """httpx's sync client fails every request on timeout=inf: the client gets None (no limit) instead."""
    from task_router._budget import resolve_timeout
    from task_router.models import load_router_model

    assert resolve_timeout(None, float("inf")) is None and resolve_timeout(None, "1e12") is None
    model = load_router_model("openai:gpt-4o-mini", base_url="http://127.0.0.1:9/v1", timeout_s=float("inf"))
    assert model.request_timeout is None
