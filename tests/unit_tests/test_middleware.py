"""TaskRouterMiddleware in a real LangChain agent (create_agent) with scripted router and agent models."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from pydantic import Field

from task_router import Task, TaskCatalog, TaskRouterMiddleware, make_router
from task_router.routers._base import Prediction
from tests.conftest import choice, scripted_model
from tests.unit_tests.fakes import Scripted
from tests.unit_tests.test_tracing import RunRecorder, walk


class ToolCallingFake(GenericFakeChatModel):
    """A scripted agent model that records, for every call, the system prompt and the tools it was bound to."""

    bound: list[str] | None = None
    calls: list[dict[str, Any]] = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingFake:
        names = sorted(t.name if hasattr(t, "name") else t["name"] for t in tools)
        return self.model_copy(update={"bound": names})  # shares the scripted replies and the call log

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kwargs: Any) -> Any:
        system = messages[0].content if messages and messages[0].type == "system" else None
        self.calls.append({"system": system, "tools": self.bound or []})
        return super()._generate(messages, stop, run_manager, **kwargs)


def agent_model(*replies: AIMessage | str) -> ToolCallingFake:
    return ToolCallingFake(messages=iter(r if isinstance(r, AIMessage) else AIMessage(r) for r in replies))


def call(name: str, call_id: str, **args: Any) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": call_id}])


@tool
def lookup_crm(company: str) -> str:
    """Look up a company in the CRM."""
    return f"{company}: 3 open deals"


@tool
def word_count(text: str) -> int:
    """Count the words of a draft."""
    return len(text.split())


@tool
def search_docs(query: str) -> str:
    """Search the company documentation."""
    return "docs"


@pytest.fixture
def tasks() -> TaskCatalog:
    return TaskCatalog(
        [
            Task(
                name="prospect",
                description="Answer a prospect's objection.",
                instructions="Use one concrete fact.",
                tools=["lookup_crm"],
            ),
            Task(name="post", description="Draft a LinkedIn post.", display_name="LinkedIn post", tools=["word_count"]),
        ]
    )


CFG = {"configurable": {"thread_id": "t"}}


def build(tasks, router_replies, model, **kwargs):
    router = make_router("structured", model=scripted_model(*router_replies))
    middleware = TaskRouterMiddleware(tasks, router=router, **kwargs.pop("mw", {}))
    tools = kwargs.pop("tools", [lookup_crm, word_count, search_docs])
    return create_agent(
        model, tools=tools, middleware=[middleware], system_prompt="You are Ada.", checkpointer=InMemorySaver()
    )


def say(agent, text):
    return agent.invoke({"messages": [("user", text)]}, CFG)


def test_prompt_and_tools_follow_the_active_task_across_turns(tasks):
    model = agent_model(
        call("lookup_crm", "c1", company="ACME"), "ACME has 3 open deals.", "Still ACME.", "Launch post!", "Bye!"
    )
    agent = build(tasks, [choice("prospect"), choice("prospect"), choice("post"), choice("post", True)], model)

    out = say(agent, "ACME says we're too expensive")
    assert out["active_task"] == "prospect" and out["messages"][-1].content == "ACME has 3 open deals."
    tool_result = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert tool_result.content == "ACME: 3 open deals" and tool_result.status == "success"
    # Two model calls in the tool loop, one routing decision for the user turn.
    assert len(model.calls) == 2 and len(out["decisions"]) == 1
    for recorded in model.calls:
        assert recorded["tools"] == ["lookup_crm"]
        assert recorded["system"].startswith("You are Ada.")
        assert "Answer a prospect's objection." in recorded["system"] and "Use one concrete fact." in recorded["system"]

    out = say(agent, "They also want a discount")
    assert out["active_task"] == "prospect" and [d["event"] for d in out["decisions"]] == ["START", "CONTINUE"]

    out = say(agent, "Now a LinkedIn post about our launch")
    assert out["active_task"] == "post" and out["decisions"][-1]["event"] == "SWITCH"
    assert model.calls[-1]["tools"] == ["word_count"] and "LinkedIn post" in model.calls[-1]["system"]

    out = say(agent, "Perfect, thanks")
    assert out["active_task"] is None
    assert (out["decisions"][-1]["event"], out["decisions"][-1]["task"]) == ("END", "post")
    assert model.calls[-1]["tools"] == [] and '"LinkedIn post" is now closed' in model.calls[-1]["system"]
    assert [d["event"] for d in out["decisions"]] == ["START", "CONTINUE", "SWITCH", "END"]


def test_none_offers_the_catalogue_without_tools(tasks):
    model = agent_model("I can't do that, but I can help with: ...")
    agent = build(tasks, [choice("NONE")], model, mw={"shared_tools": ["search_docs"]})
    out = say(agent, "What's the weather tomorrow?")
    assert out["active_task"] is None and out["decisions"][-1]["event"] == "NONE"
    [recorded] = model.calls
    assert recorded["tools"] == ["search_docs"]  # only the shared tools
    assert "does not match any task" in recorded["system"]
    assert "- Prospect: Answer a prospect's objection." in recorded["system"]
    assert "- LinkedIn post: Draft a LinkedIn post." in recorded["system"]


def test_a_tool_outside_the_active_task_is_refused(tasks):
    model = agent_model(call("word_count", "c1", text="a b"), "ok")
    agent = build(tasks, [choice("prospect")], model)
    out = say(agent, "ACME says we're too expensive")
    refused = next(m for m in out["messages"] if isinstance(m, ToolMessage))
    assert refused.status == "error" and "not available for the current task" in refused.content
    assert "lookup_crm" in refused.content


def test_tools_registered_by_the_middleware(tasks):
    model = agent_model(call("lookup_crm", "c1", company="Initech"), "done")
    agent = build(tasks, [choice("prospect")], model, tools=[], mw={"tools_by_name": {"lookup_crm": lookup_crm}})
    out = say(agent, "Initech asks about integrations")
    assert next(m for m in out["messages"] if isinstance(m, ToolMessage)).content == "Initech: 3 open deals"


def test_undeclared_tools_fail_with_the_fix(tasks):
    agent = build(tasks, [choice("prospect")], agent_model("x"), tools=[word_count])
    with pytest.raises(ValueError, match=r"task 'prospect' names tools the agent does not have: \['lookup_crm'\]"):
        say(agent, "ACME says we're too expensive")
    with pytest.raises(ValueError, match="use the tool's own name as the key"):
        router = make_router("structured", model=scripted_model())
        TaskRouterMiddleware(tasks, router=router, tools_by_name={"crm": lookup_crm})


def test_async_agent_and_routing_run_nested_under_the_hook(tasks):
    model = agent_model("Here is your post.")
    agent = build(tasks, [choice("post")], model)
    recorder = RunRecorder()
    out = asyncio.run(agent.ainvoke({"messages": [("user", "A LinkedIn post")]}, {**CFG, "callbacks": [recorder]}))
    assert out["active_task"] == "post" and model.calls[0]["tools"] == ["word_count"]
    paths = [path for root in recorder.roots for path, _ in walk(root) if path[-1].startswith("TaskRouter[")]
    assert paths == [
        (
            "LangGraph",
            "TaskRouterMiddleware.before_agent",
            "ReliableRouter[structured]",
            "Retry[structured]",
            "TaskRouter[structured]",
        )
    ]


def test_an_off_topic_request_mid_task_keeps_the_task(tasks):
    model = agent_model("Objection handled.", "Sorry, I can't help with the weather here.", "Here is more.", "Bye!")
    replies = [choice("prospect"), choice("NONE"), choice("prospect"), choice("DONE", True)]
    agent = build(tasks, replies, model, mw={"shared_tools": ["search_docs"]})

    say(agent, "ACME says we're too expensive")
    out = say(agent, "By the way, what's the weather tomorrow?")
    decision = out["decisions"][-1]
    assert (decision["event"], decision["active_task_after"]) == ("NONE", "prospect")
    assert out["active_task"] == "prospect"  # a digression: the task stays active
    off_topic = model.calls[-1]
    assert off_topic["tools"] == ["search_docs"]  # only the shared tools, not the task's
    assert off_topic["system"].startswith("You are Ada.")
    assert "cannot help with it here" in off_topic["system"] and 'go on with the task "Prospect"' in off_topic["system"]
    assert "Use one concrete fact." not in off_topic["system"]
    # the reply is marked off topic: the router reads the next turn with what the task said before the digression
    assert out["messages"][-1].response_metadata.get("task_router") == "off_topic"
    assert not any(m.response_metadata.get("task_router") for m in out["messages"][:-1] if m.type == "ai")

    out = say(agent, "They also want a discount")
    assert out["active_task"] == "prospect" and out["decisions"][-1]["event"] == "CONTINUE"
    assert model.calls[-1]["tools"] == ["lookup_crm", "search_docs"]
    assert "Use one concrete fact." in model.calls[-1]["system"]  # the task's prompt again

    out = say(agent, "Great, that's all, thanks")
    assert out["active_task"] is None and (out["decisions"][-1]["event"], out["decisions"][-1]["task"]) == (
        "END",
        "prospect",
    )
    assert '"Prospect" is now closed' in model.calls[-1]["system"]


def test_a_tool_call_on_an_off_topic_turn_is_refused(tasks):
    model = agent_model("ok", call("lookup_crm", "c1", company="ACME"), "Sorry.")
    agent = build(tasks, [choice("prospect"), choice("NONE")], model)
    say(agent, "ACME says we're too expensive")
    out = say(agent, "What's the weather tomorrow?")
    refused = [m for m in out["messages"] if isinstance(m, ToolMessage)][-1]
    assert refused.status == "error" and "not available for the current task" in refused.content
    assert out["active_task"] == "prospect"


def _asking_router(*answers: tuple[str | None, tuple]) -> Scripted:
    """A router whose predictions carry alternatives (the ones that make a question), one per turn."""
    queue = list(answers)

    def answer(routing):
        task, alternatives = queue.pop(0)
        return Prediction(task, alternatives=alternatives)

    return Scripted(answer)


CLOSE = (("prospect", False, 0.46), ("post", False, 0.41), (None, False, 0.13))


def _asking_agent(tasks, router, model):
    """An agent whose middleware asks between tasks closer than 0.1."""
    return create_agent(
        model,
        tools=[lookup_crm, word_count, search_docs],
        middleware=[TaskRouterMiddleware(tasks, router=router, clarify_margin=0.1)],
        checkpointer=InMemorySaver(),
    )


def test_a_close_call_asks_which_task_and_keeps_the_active_task(tasks):
    router = _asking_router(("post", ()), ("prospect", CLOSE), ("prospect", CLOSE))
    router.clarify_margin = 0.1  # the router marks its close decisions (make_router(..., clarify_margin=...))
    model = agent_model("Draft ready.", "Do you mean a prospect answer or a LinkedIn post?", "On it.")
    agent = create_agent(
        model,
        tools=[lookup_crm, word_count, search_docs],
        middleware=[TaskRouterMiddleware(tasks, router=router, shared_tools=["search_docs"])],
        system_prompt="You are Ada.",
        checkpointer=InMemorySaver(),
    )
    say(agent, "A LinkedIn post about our launch")
    out = say(agent, "Write something about ACME's pricing")
    assert out["decisions"][-1]["clarify"] == ["prospect", "post"]
    assert out["active_task"] == "post"  # the task active before the question, not the decision's
    asking = model.calls[-1]
    assert asking["tools"] == ["search_docs"]
    assert (
        "in one short question" in asking["system"] and "Do you mean: Prospect, or LinkedIn post?" in asking["system"]
    )
    assert "- Prospect: Answer a prospect's objection." in asking["system"]
    assert "- LinkedIn post: Draft a LinkedIn post." in asking["system"]

    out = say(agent, "The prospect one")  # as close again: the answer is acted on, not asked about twice
    assert out["decisions"][-1]["clarify"] is None
    assert (out["decisions"][-1]["event"], out["active_task"]) == ("SWITCH", "prospect")
    assert model.calls[-1]["tools"] == ["lookup_crm", "search_docs"]


def test_the_middleware_asks_at_its_own_margin(tasks):
    router = _asking_router(("prospect", CLOSE))
    model = agent_model("Which one?")
    agent = _asking_agent(tasks, router, model)
    out = say(agent, "Something about ACME")
    assert out["decisions"][-1]["clarify"] == ["prospect", "post"] and out["active_task"] is None
    assert model.calls[-1]["tools"] == [] and "which of these they mean" in model.calls[-1]["system"]
    with pytest.raises(ValueError, match="clarify_margin"):
        TaskRouterMiddleware(tasks, router=router, clarify_margin=2.0)


def test_an_off_topic_aside_after_the_question_is_marked_and_the_answer_is_acted_on(tasks):
    """A question between close tasks, then an off-topic request (NONE), then the answer: the aside's reply is
    marked (the router reads the answer next to the question) and the answer is acted on, not asked about again."""
    from task_router._router_input import is_off_topic_reply

    router = _asking_router(("prospect", CLOSE), (None, ()), ("prospect", CLOSE))
    model = agent_model("Which one?", "Sorry, I can't help with that.", "On it.")
    agent = _asking_agent(tasks, router, model)
    say(agent, "Something about ACME")
    out = say(agent, "What's the capital of Peru?")
    assert out["decisions"][-1]["event"] == "NONE" and is_off_topic_reply(out["messages"][-1])
    out = say(agent, "The prospect one")
    assert (out["decisions"][-1]["event"], out["decisions"][-1]["clarify"], out["active_task"]) == (
        "START",
        None,
        "prospect",
    )


def test_an_off_topic_request_with_close_tasks_behind_it_is_a_digression_not_a_question(tasks):
    """NONE mid-task keeps the task and gets the digression prompt, even when the router's alternatives behind the
    NONE split over two close tasks: a question between tasks is only for a decision that picks one."""
    router = _asking_router(("post", ()), (None, CLOSE))
    model = agent_model("Draft ready.", "I can't help with that here; shall we go on with the post?")
    agent = _asking_agent(tasks, router, model)
    say(agent, "A LinkedIn post about our launch")
    out = say(agent, "What's the capital of Peru?")
    assert (out["decisions"][-1]["event"], out["decisions"][-1]["clarify"]) == ("NONE", None)
    assert out["active_task"] == "post"
    assert "off topic" in model.calls[-1]["system"] and "which of these they mean" not in model.calls[-1]["system"]


def test_a_composition_s_none_keeps_the_active_task(tasks):
    """A Runnable given as ``router`` is used as it is: its NONE without ``active_task_after`` is still a
    digression (the task stays), not the end of the task."""
    from langchain_core.runnables import RunnableLambda

    from task_router import RouteDecision

    decisions = iter([RouteDecision(event="START", task="post"), RouteDecision(event="NONE")])
    model = agent_model("Draft ready.", "I can't help with that; shall we go on with the post?")
    agent = create_agent(
        model,
        tools=[lookup_crm, word_count, search_docs],
        middleware=[TaskRouterMiddleware(tasks, router=RunnableLambda(lambda payload: next(decisions)))],
        checkpointer=InMemorySaver(),
    )
    say(agent, "A LinkedIn post about our launch")
    out = say(agent, "What's the capital of Peru?")
    assert (out["decisions"][-1]["event"], out["active_task"]) == ("NONE", "post")
    assert "off topic" in model.calls[-1]["system"]


def test_an_agent_run_on_after_a_digression_without_a_new_turn_keeps_the_tasks_question_readable(tasks):
    """The digression decision stands on a run without a new user turn, and its second reply is marked too: the
    router still reads the next turn with what the task asked before the off-topic request."""
    from langchain_core.messages import HumanMessage

    from task_router._learned.texts import query_text

    model = agent_model("Which objection?", "Sorry, can't help.", "Anything else on ACME?")
    agent = build(tasks, [choice("prospect"), choice("NONE")], model)
    say(agent, "ACME says we're too expensive")
    say(agent, "weather?")
    out = agent.invoke({"messages": []}, CFG)
    query = query_text([*out["messages"], HumanMessage("the price")], tasks["prospect"])
    assert "Before: Assistant: Which objection?" in query
