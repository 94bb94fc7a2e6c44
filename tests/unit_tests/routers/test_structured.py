import json
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from pydantic import Field

from task_router import make_router
from task_router.routers._fallbacks import make_reliable
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

    from task_router.routers._answering import bounded

    uncapped = ChatOpenAI(model="m", api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    capped = bounded(uncapped, 48)
    assert capped.max_tokens == 48 and uncapped.max_tokens is None
    assert bounded(ChatOpenAI(model="m", api_key="sk-test", max_tokens=7), 48).max_tokens == 7
    router = make_router("structured", model=uncapped)
    assert router._text_model.max_tokens == 48


class CountingToolFake(ToolCallingFake):
    """A tool-calling fake that counts its calls."""

    calls: list[int] = Field(default_factory=list)

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append(1)
        return super()._generate(*args, **kwargs)


def _tool_reply(args: dict) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": "RouteChoice", "args": args, "id": "1"}])


@pytest.mark.parametrize("task", [b"recap", {"recap"}], ids=["bytes", "set"])
def test_tool_call_arguments_json_cannot_hold_are_an_unreadable_answer_not_a_crash(catalog, task):
    model = CountingToolFake(messages=iter([_tool_reply({"task": task, "closing": False})] * 6))
    decision = route(make_router("structured", model=model), catalog, "recap my meeting", active="email")
    assert (decision.event, decision.task, decision.valid_format) == ("CONTINUE", "email", False)
    assert "unparseable" in decision.fallback
    assert len(model.calls) == 2  # the answer and its one repair

    model.calls.clear()
    reliable = make_reliable(make_router("structured", model=model), retries=2, backoff_s=0, fallback="keep-active")
    decision = route(reliable, catalog, "recap my meeting", active="email")
    assert (decision.event, decision.task, decision.valid_format) == ("CONTINUE", "email", False)
    assert "gave no usable answer" in decision.fallback
    assert len(model.calls) == 2  # not retried as if transient


def test_an_extra_tool_call_argument_json_cannot_hold_does_not_hide_the_decision(catalog):
    model = ToolCallingFake(messages=iter([_tool_reply({"task": "recap", "closing": False, "note": {b"x"}})]))
    decision = route(make_router("structured", model=model), catalog, "recap my meeting")
    assert (decision.event, decision.task, decision.valid_format) == ("START", "recap", True)


class FailsOnceStructuredFake(ToolCallingFake):
    """Structured output raises a ValueError on its first call only (one bad answer), then answers ``email``."""

    failures: list[int] = Field(default_factory=lambda: [1])

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Any:
        def answer(_: Any) -> dict:
            if self.failures:
                self.failures.pop()
                raise ValueError("1 validation error for RouteChoice: Invalid JSON")
            return {"raw": _tool_reply(choice("email")), "parsed": schema(task="email"), "parsing_error": None}

        return RunnableLambda(answer)


def test_one_structured_output_failure_does_not_downgrade_later_decisions(catalog):
    model = FailsOnceStructuredFake(messages=iter([AIMessage(json.dumps(choice("recap")))]))
    router = make_router("structured", model=model)
    first = route(router, catalog, "recap my meeting")
    assert (first.task, first.valid_format) == ("recap", True)  # this decision read the text answer
    assert router.use_tools
    second = route(router, catalog, "now an email")  # another thread's turn, say: structured output again
    assert (second.task, second.valid_format) == ("email", True)
