"""Async all the way (issue 25, item 1), over the real OpenAI-compatible test server: ``ainvoke`` of a router
that calls a chat model awaits the model's own async client (every decision in flight at once, no thread per
decision), the graph's router node and the middleware await it too, and the time budget holds on the event loop.

The server holds every answer until the test releases it, so "all in flight at once" is checked by the requests
that arrived, not by timing: before, ``Router.ainvoke`` ran ``invoke`` in the loop's executor (6 threads on a
2-core machine), so no more than 6 decisions could ever be waiting on the server."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from task_router import TaskCatalog, create_router_graph, make_router
from task_router._budget import DecisionTimeout
from task_router.models import load_chat_model
from task_router.reliability import KEEP_ACTIVE, make_reliable
from tests.fault_server import FaultServer, keyword_reply

KEYWORDS = keyword_reply({"linkedin": "linkedin_post", "recap": "meeting_recap"})
CONCURRENT = 16
HELD_S = 120.0  # the server holds each answer this long unless released: far beyond any wait below


@pytest.fixture(scope="module")
def catalog() -> TaskCatalog:
    return TaskCatalog.demo()


def _own_threads() -> set[str]:
    """Threads of this process that are not the test server's (it has one per request, by design)."""
    return {
        t.name for t in threading.enumerate() if t.name != "fault-server" and "process_request_thread" not in t.name
    }


async def _all_arrived(server: FaultServer, count: int, within_s: float = 30.0) -> set[str]:
    """Wait until ``count`` requests are held by the server; the threads alive at that moment."""
    deadline = time.monotonic() + within_s
    while server.in_flight < count:
        if time.monotonic() > deadline:
            server.release()  # let the held ones finish: the test fails now, not after every hold
            raise AssertionError(f"only {server.in_flight} of {count} decisions reached the server at once")
        await asyncio.sleep(0.02)
    return _own_threads()


def test_concurrent_decisions_are_all_in_flight_without_a_thread_each(catalog: TaskCatalog) -> None:
    turn = {"messages": [("user", "write a linkedin post")], "catalog": catalog}

    async def main(server: FaultServer) -> tuple[list, set[str], set[str]]:
        router = make_reliable(make_router("structured", model="openai:fake", base_url=server.base_url, timeout_s=300))
        before = _own_threads()
        calls = [asyncio.ensure_future(router.ainvoke(turn)) for _ in range(CONCURRENT)]
        during = await _all_arrived(server, CONCURRENT)
        server.release()
        return await asyncio.gather(*calls), before, during

    with FaultServer("ok", reply=KEYWORDS, delay_s=HELD_S) as server:
        decisions, before, during = asyncio.run(main(server))
    assert all((d.event, d.task, d.stage, d.fallback) == ("START", "linkedin_post", None, None) for d in decisions)
    # No thread of ours per decision: what is new is the event loop's own bounded executor, which LangChain and
    # the OpenAI client use for small sync steps (parsing a reply), min(32, CPUs + 4) threads whatever the load.
    new = during - before
    assert all(name.startswith("asyncio_") for name in new), sorted(new)
    assert len(new) <= min(32, (os.cpu_count() or 1) + 4)


def test_the_async_graph_awaits_its_router(catalog: TaskCatalog) -> None:
    """``graph.ainvoke`` of many threads at once: the router node awaits the model (a plain function node would
    run in the executor's few threads)."""
    echo = {name: (lambda state: {"messages": [("ai", "ok")]}) for name in catalog.names}

    async def main(server: FaultServer) -> list[dict]:
        router = make_reliable(make_router("structured", model="openai:fake", base_url=server.base_url, timeout_s=300))
        graph = create_router_graph(catalog, router=router, model=None, task_graphs=echo)
        app = graph.compile(checkpointer=InMemorySaver())
        runs = [
            asyncio.ensure_future(
                app.ainvoke({"messages": [("user", "a linkedin post")]}, {"configurable": {"thread_id": f"t{i}"}})
            )
            for i in range(CONCURRENT)
        ]
        await _all_arrived(server, CONCURRENT)
        server.release()
        return await asyncio.gather(*runs)

    with FaultServer("ok", reply=KEYWORDS, delay_s=HELD_S) as server:
        states = asyncio.run(main(server))
    for state in states:
        (decision,) = state["decisions"]
        assert (decision["event"], decision["task"], decision["stage"]) == ("START", "linkedin_post", None)
        assert state["active_task"] == "linkedin_post"


def test_the_time_budget_holds_on_the_event_loop(catalog: TaskCatalog) -> None:
    turn = {"messages": [("user", "write a linkedin post")], "active_task": "meeting_recap", "catalog": catalog}
    with FaultServer("hang", hang_s=60) as server:
        model = load_chat_model("openai:fake", base_url=server.base_url, timeout=60, max_retries=0)
        router = make_router("structured", model=model, timeout_s=0.3)
        with pytest.raises(DecisionTimeout, match=r"0\.3 s"):
            asyncio.run(router.ainvoke(turn))
        decision = asyncio.run(make_reliable(router, fallback=KEEP_ACTIVE).ainvoke(turn))
    assert (decision.event, decision.task, decision.stage) == ("CONTINUE", "meeting_recap", KEEP_ACTIVE)
    assert "timed out after 0.3 s" in decision.fallback and decision.latency_ms >= 300
