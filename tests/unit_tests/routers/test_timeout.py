"""Issue 26, item 2: one time-out, ``timeout_s``. A router kind that asks a network model given by spec gives its
client that time-out (and no retries of its own), so that the HTTP request stops with the decision; the
environment variable is ``TASK_ROUTER_TIMEOUT_S``, and the old name is refused with the fix. No request is sent:
the clients are only built."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

from task_router import TaskCatalog, make_router
from task_router._budget import DEFAULT, DEFAULT_TIMEOUT_S, RENAMED_ENV, TIMEOUT_ENV, resolve_timeout
from task_router.models import load_router_model
from task_router.reliability import TIMEOUT_KEY

URL = "http://127.0.0.1:9/v1"  # never called


@pytest.fixture(autouse=True)
def _no_timeout_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TIMEOUT_ENV, raising=False)
    monkeypatch.delenv(RENAMED_ENV, raising=False)


def _client(router: Any) -> Any:
    return getattr(router, "strong", router).model  # a cascade's network model is its strong stage's


@pytest.mark.parametrize("kind", ["structured", "zero-shot", "few-shot-cot", "react", "cascade"])
def test_a_network_model_gets_the_routers_timeout_as_its_client_timeout(catalog: TaskCatalog, kind: str) -> None:
    options: dict[str, Any] = {"strong_options": {"base_url": URL}} if kind == "cascade" else {"base_url": URL}
    if kind == "cascade":
        options["cheap"] = make_router("zero-shot", model=GenericFakeChatModel(messages=iter([])))
    router = make_router(kind, model="openai:fake", catalog=catalog, timeout_s=7, **options)
    client = _client(router)
    assert (router.timeout_s, client.request_timeout, client.max_retries) == (7, 7.0, 0)


def test_the_client_timeout_follows_the_default_and_none(catalog: TaskCatalog, monkeypatch: pytest.MonkeyPatch) -> None:
    router = make_router("structured", model="openai:fake", base_url=URL)
    assert (router.timeout_s, router.model.request_timeout) == (DEFAULT, DEFAULT_TIMEOUT_S)
    monkeypatch.setenv(TIMEOUT_ENV, "42")
    assert make_router("structured", model="openai:fake", base_url=URL).model.request_timeout == 42.0
    unlimited = make_router("structured", model="openai:fake", base_url=URL, timeout_s=None)
    assert unlimited.timeout_s is None and unlimited.model.request_timeout is None
    wrapped = make_router("structured", model="openai:fake", base_url=URL, timeout_s=3, none_threshold=0.3)
    assert wrapped.timeout_s == 3 and wrapped.router.model.request_timeout == 3.0  # the wrapped router's client
    assert load_router_model("openai:fake", base_url=URL, timeout_s=5).request_timeout == 5.0


def test_an_instance_keeps_its_own_client_settings() -> None:
    model = load_router_model("openai:fake", base_url=URL, timeout_s=9)
    router = make_router("structured", model=model, timeout_s=2)
    assert router.model is model and (router.timeout_s, model.request_timeout) == (2, 9.0)


def test_a_bad_timeout_is_refused_before_any_client_is_built() -> None:
    with pytest.raises(ValueError, match="timeout_s must be a positive number of seconds"):
        make_router("structured", model="openai:fake", base_url=URL, timeout_s=-1)
    with pytest.raises(ValueError, match="timeout_s must be a positive number of seconds"):
        load_router_model("openai:fake", base_url=URL, timeout_s=0)


def test_the_renamed_environment_variable_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RENAMED_ENV, "1800")
    fix = "TASK_ROUTER_TIME_BUDGET_S was renamed TASK_ROUTER_TIMEOUT_S: set TASK_ROUTER_TIMEOUT_S instead"
    with pytest.raises(ValueError, match=fix):
        make_router("zero-shot", model=GenericFakeChatModel(messages=iter([])))
    with pytest.raises(ValueError, match=fix):
        resolve_timeout(None, DEFAULT)
    assert resolve_timeout(None, 5) == 5.0  # a router's own time-out does not read the environment
    monkeypatch.setenv(TIMEOUT_ENV, "30")
    assert resolve_timeout(None, DEFAULT) == 30.0  # the new name set: the old one is ignored


def test_one_per_call_key() -> None:
    assert TIMEOUT_KEY == "router_timeout_s"
    assert resolve_timeout({"configurable": {TIMEOUT_KEY: 0.5}}, 60) == 0.5


def test_the_renamed_option_is_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match="time_budget_s was renamed timeout_s"):
        make_router("learned", time_budget_s=5)
