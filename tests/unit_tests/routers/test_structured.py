from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from task_router import make_router
from task_router.routers.fallbacks import make_reliable
from tests.conftest import choice, scripted_model, user_turns


class ToolCallingFake(GenericFakeChatModel):
    """A fake model that 'supports' tool calling: bind_tools returns itself, replies carry tool calls."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ToolCallingFake":
        return self


def route(router, catalog, text="hi", active=None):
    return router.invoke({"messages": user_turns([text]), "active_task": active, "catalog": catalog})


def test_text_path_parses_json_and_derives_events(catalog):
    router = make_router("structured", model=scripted_model(choice("recap"), choice("recap", True)))
    assert not router.use_tools
    first = route(router, catalog, "recap my meeting")
    assert (first.event, first.task, first.valid_format) == ("START", "recap", True)
    second = route(router, catalog, "thanks, that's all", active="recap")
    assert (second.event, second.task) == ("END", "recap")
    assert second.router == "structured" and second.latency_ms >= 0


def test_made_up_task_never_leaks(catalog):
    router = make_router("structured", model=scripted_model(choice("book_flight"), choice("hotel")))
    decision = route(router, catalog, "book a flight", active="email")
    assert decision.task == "email" and decision.event == "CONTINUE"
    assert not decision.valid_format and "unparseable after one repair" in decision.fallback
    assert "book_flight" in decision.raw_output and "hotel" in decision.raw_output


def test_one_repair_then_valid_but_counted(catalog):
    router = make_router("structured", model=scripted_model("I think the user wants something.", choice("post")))
    decision = route(router, catalog, "linkedin please")
    assert (decision.event, decision.task, decision.valid_format) == ("START", "post", False)


def test_model_error_keeps_the_turn(catalog):
    router = make_router("structured", model=scripted_model())  # raises StopIteration on first call
    with pytest.raises(StopIteration):  # the router raises: retries and fallbacks are composition
        route(router, catalog, "anything", active="recap")
    reliable = make_reliable(make_router("structured", model=scripted_model()), retries=0, fallback="keep-active")
    decision = route(reliable, catalog, "anything", active="recap")
    assert (decision.event, decision.task, decision.valid_format) == ("CONTINUE", "recap", False)
    assert "model error: StopIteration" in decision.fallback


def test_tool_calling_path(catalog):
    model = ToolCallingFake(
        messages=iter([AIMessage("", tool_calls=[{"name": "RouteChoice", "args": choice("NONE"), "id": "1"}])])
    )
    router = make_router("structured", model=model)
    assert router.use_tools
    decision = route(router, catalog, "what's the weather?")
    assert (decision.event, decision.task, decision.valid_format) == ("NONE", None, True)


def test_removed_active_task_is_treated_as_inactive(catalog):
    router = make_router("structured", model=scripted_model(choice("email")))
    catalog.remove("recap")
    decision = route(router, catalog, "now an email", active="recap")
    assert (decision.event, decision.task) == ("START", "email")


def test_api_models_get_a_short_answer_budget():
    """A small model behind an OpenAI-compatible server must not ramble: routers cap ``max_tokens`` when the user
    left it unset, and keep the user's own cap."""
    from langchain_openai import ChatOpenAI

    from task_router.routers.answering import bounded

    uncapped = ChatOpenAI(model="m", api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    capped = bounded(uncapped, 48)
    assert capped.max_tokens == 48 and uncapped.max_tokens is None
    assert bounded(ChatOpenAI(model="m", api_key="sk-test", max_tokens=7), 48).max_tokens == 7
    router = make_router("structured", model=uncapped)
    assert router._text_model.max_tokens == 48
