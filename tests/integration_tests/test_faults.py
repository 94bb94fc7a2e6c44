"""Model faults from a real local OpenAI-compatible server: bounded retries, time-outs, fallback stages,
no turn lost, the thread resumable."""

from __future__ import annotations

import asyncio

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from task_router import TaskCatalog, create_router_graph, make_router
from task_router.reliability import KEEP_ACTIVE, embedding_available, make_reliable
from tests.fault_server import FaultServer, keyword_reply

KEYWORDS = keyword_reply({"linkedin": "linkedin_post", "recap": "meeting_recap"})
TURN = {"messages": [{"role": "user", "content": "write a linkedin post about our launch"}]}


@pytest.fixture(scope="module")
def catalog() -> TaskCatalog:
    return TaskCatalog.demo()


def _router(server: FaultServer, *, timeout_s: float = 60.0, **options: object):
    """The structured router over ``server``, made reliable. The time-out is long unless a test is about it: a
    busy machine (a test run beside training) can take seconds before the first request is even sent."""
    defaults = {"retries": 2, "backoff_s": 0.01, "max_backoff_s": 0.05, "fallback": KEEP_ACTIVE}
    primary = make_router("structured", model="openai:fake", base_url=server.base_url, timeout_s=timeout_s)
    return make_reliable(primary, **{**defaults, **options})


@pytest.mark.parametrize(("mode", "attempts"), [("500", 3), ("bad_json", 3), ("echo_key", 1)])
def test_failing_server_is_retried_a_bounded_number_of_times_then_falls_back(
    catalog: TaskCatalog, mode: str, attempts: int
) -> None:
    with FaultServer(mode) as server:
        decision = _router(server).invoke({**TURN, "catalog": catalog, "active_task": "meeting_recap"})
        # retries + 1 attempts for transient faults, one for a 401; an attempt may make two requests (the
        # structured router retries a failed tool-call answer on its text path)
        assert attempts <= len(server.requests) <= 2 * attempts
    assert (decision.event, decision.task) == ("CONTINUE", "meeting_recap")  # the active task is kept
    assert _stage(decision) == KEEP_ACTIVE and decision.router == "structured" and not decision.valid_format
    assert decision.fallback.startswith(f"fallback stage '{KEEP_ACTIVE}' decided: primary 'structured'")
    assert f"after {attempts} attempt(s)" in decision.fallback if attempts > 1 else "not retried" in decision.fallback


def test_garbage_answer_is_not_retried_but_falls_back(catalog: TaskCatalog) -> None:
    """A well-formed reply with nonsense text is the model's answer: retrying would repeat it."""
    with FaultServer("garbage") as server:
        decision = _router(server).invoke({**TURN, "catalog": catalog, "active_task": "meeting_recap"})
    assert (decision.event, decision.task, _stage(decision)) == ("CONTINUE", "meeting_recap", KEEP_ACTIVE)
    assert "gave no usable answer after 1 attempt(s)" in decision.fallback


def test_hanging_server_times_out_within_the_decision_budget(catalog: TaskCatalog) -> None:
    with FaultServer("hang", hang_s=30) as server:
        decision = _router(server, timeout_s=0.5).invoke({**TURN, "catalog": catalog})
        assert len(server.requests) == 1  # no attempt starts after the budget is spent
    assert (decision.event, decision.task, _stage(decision)) == ("NONE", None, KEEP_ACTIVE)
    assert "timed out" in decision.fallback  # the client's or the router's time-out, both set to the budget


def test_stopped_server_falls_back(catalog: TaskCatalog) -> None:
    server = FaultServer("ok").start()
    url = server.base_url
    server.stop()
    primary = make_router("structured", model="openai:fake", base_url=url, timeout_s=5)
    router = make_reliable(primary, retries=1, backoff_s=0, fallback=KEEP_ACTIVE)
    decision = router.invoke({**TURN, "catalog": catalog})
    assert _stage(decision) == KEEP_ACTIVE and "Connection" in decision.fallback


def test_transient_errors_recover_with_retries(catalog: TaskCatalog) -> None:
    with FaultServer("ok", script=["500", "bad_json"], reply=KEYWORDS) as server:
        decision = _router(server).invoke({**TURN, "catalog": catalog})
        assert [r["mode"] for r in server.requests][-1] == "ok"
    assert (decision.event, decision.task, _stage(decision)) == ("START", "linkedin_post", "structured")
    assert decision.valid_format and decision.fallback is None


def test_per_call_timeout_overrides_the_router_default(catalog: TaskCatalog) -> None:
    with FaultServer("hang", hang_s=30) as server:
        router = _router(server, timeout_s=60.0)
        decision = router.invoke({**TURN, "catalog": catalog}, {"configurable": {"router_timeout_s": 0.3}})
    assert "timed out after 0.3 s" in decision.fallback


@pytest.mark.skipif(not embedding_available(), reason="the embedding model package is not installed")
def test_embedding_router_is_the_fallback_stage_when_available(catalog: TaskCatalog) -> None:
    with FaultServer("500") as server:
        decision = _router(server, fallback="auto").invoke({**TURN, "catalog": catalog})
    assert (decision.event, decision.task, _stage(decision)) == ("START", "linkedin_post", "embedding")
    assert decision.fallback.startswith("fallback stage 'embedding' decided: primary 'structured' failed")
    assert not decision.valid_format


def test_no_turn_lost_and_the_thread_resumes_after_faults(catalog: TaskCatalog) -> None:
    """Every user turn of a graph thread gets its message and one decision, whatever the server does."""
    config = {"configurable": {"thread_id": "faults"}}
    saver = InMemorySaver()
    modes = ["ok", "500", "hang", "bad_json", "ok"]
    texts = ["write a linkedin post", "make it shorter", "add emojis", "and a hashtag", "now a recap please"]
    for mode, text in zip(modes, texts, strict=True):
        with FaultServer(mode, reply=KEYWORDS, hang_s=30) as server:
            router = _router(server, timeout_s=1.0 if mode == "hang" else 60.0)
            graph = create_router_graph(catalog, router=router, model=None, task_graphs=_echo_tasks(catalog))
            state = graph.compile(checkpointer=saver).invoke({"messages": [("user", text)]}, config)
    users = [m.content for m in state["messages"] if m.type == "human"]
    assert users == texts
    decisions = state["decisions"]
    assert len(decisions) == len(texts)
    assert [_stage(d) for d in decisions] == ["structured", KEEP_ACTIVE, KEEP_ACTIVE, KEEP_ACTIVE, "structured"]
    # The failing turns kept the active task; the thread then switched normally.
    assert [(d["event"], d["task"]) for d in decisions] == [
        ("START", "linkedin_post"),
        ("CONTINUE", "linkedin_post"),
        ("CONTINUE", "linkedin_post"),
        ("CONTINUE", "linkedin_post"),
        ("SWITCH", "meeting_recap"),
    ]
    assert state["active_task"] == "meeting_recap"


def _stage(decision: object) -> str:
    """The stage that decided: the ``stage`` field where RouteDecision has it, else read from ``fallback``."""
    data = decision if isinstance(decision, dict) else decision.model_dump()
    if data.get("stage"):
        return data["stage"]
    fallback = data.get("fallback") or ""
    return fallback.split("'")[1] if fallback.startswith("fallback stage '") else data["router"]


def _echo_tasks(catalog: TaskCatalog) -> dict:
    def node(state: dict) -> dict:
        return {"messages": [("ai", f"[{state['active_task']}] ok")]}

    return {name: node for name in catalog.names}


# langchain-openai keeps a streamed structured answer in the message's `parsed` field, typed None, and pydantic warns
# when LangGraph's message stream serialises it: a notice from inside those libraries, not from this project's code.
@pytest.mark.filterwarnings("ignore:Pydantic serializer warnings")
@pytest.mark.parametrize("stream_mode", ["messages", "amessages"])
def test_a_streamed_graph_is_decided_by_the_router_not_its_fallback(catalog: TaskCatalog, stream_mode: str) -> None:
    """``stream_mode="messages"`` (the chat's) makes every model call stream: the server answers in server-sent
    events and the structured router itself decides (before: the server had no streaming, so every streamed
    decision was the fallback stage's after 3 failed attempts)."""
    config = {"configurable": {"thread_id": stream_mode}}
    inputs = {"messages": [("user", "write a linkedin post")]}
    with FaultServer("ok", reply=KEYWORDS) as server:
        graph = create_router_graph(catalog, router=_router(server), model=None, task_graphs=_echo_tasks(catalog))
        app = graph.compile(checkpointer=InMemorySaver())
        if stream_mode == "amessages":

            async def consume() -> None:
                async for _ in app.astream(inputs, config, stream_mode="messages"):
                    pass

            asyncio.run(consume())
        else:
            for _ in app.stream(inputs, config, stream_mode="messages"):
                pass
        assert [request["body"].get("stream") for request in server.requests] == [True]
    (decision,) = app.get_state(config).values["decisions"]
    assert (decision["event"], decision["task"], _stage(decision)) == ("START", "linkedin_post", "structured")
    assert decision["fallback"] is None and decision["valid_format"]


def test_streamed_answers_carry_content_log_probabilities_and_forced_tool_calls() -> None:
    from langchain_core.messages import AIMessageChunk
    from langchain_core.tools import tool

    from task_router.models import load_chat_model

    @tool
    def route(task: str) -> str:
        """Pick a task."""
        return task

    with FaultServer("ok", reply='{"task": "linkedin_post"}') as server:
        model = load_chat_model("openai:fake", base_url=server.base_url, max_retries=0)
        text = sum(model.bind(logprobs=True).stream("hi"), AIMessageChunk(content=""))
        forced = model.bind_tools([route], tool_choice={"type": "function", "function": {"name": "route"}})
        call = sum(forced.stream("hi"), AIMessageChunk(content=""))
    assert text.content == '{"task": "linkedin_post"}'
    assert "".join(t["token"] for t in text.response_metadata["logprobs"]["content"]) == text.content
    assert [(c["name"], c["args"]) for c in call.tool_calls] == [("route", {"task": "linkedin_post"})]
