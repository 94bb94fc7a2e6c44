"""Many threads routed at once on one compiled graph (OS threads and asyncio): no cross-talk between threads'
states; on the embedded model, the scoring router's per-thread KV caches give the same decisions as one
thread at a time."""

from __future__ import annotations

import asyncio
import importlib.util
from concurrent.futures import ThreadPoolExecutor

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from task_router import TaskCatalog, create_router_graph, make_router
from task_router.reliability import make_reliable
from tests.fault_server import FaultServer, keyword_reply

KEYWORDS = {
    "linkedin": "linkedin_post",
    "recap": "meeting_recap",
    "email": "follow_up_email",
    "pitch": "one_minute_pitch",
}
SCRIPTS = [  # per conversation: turns (keyword decides the task) and the expected (event, task)
    (["a linkedin post", "linkedin, more detail", "now a recap"], ["START", "CONTINUE", "SWITCH"]),
    (["an email", "a pitch", "done, thanks"], ["START", "SWITCH", "END"]),
    (["hello", "recap it", "email too"], ["NONE", "START", "SWITCH"]),
    (["a pitch", "a shorter pitch", "linkedin"], ["START", "CONTINUE", "SWITCH"]),
]


def _conversation(i: int) -> tuple[list[str], list[str]]:
    turns, events = SCRIPTS[i % len(SCRIPTS)]
    return [f"[conv {i}] {text}" for text in turns], events


def _graph(server: FaultServer, catalog: TaskCatalog):
    primary = make_router("structured", model="openai:fake", base_url=server.base_url, timeout_s=30)
    router = make_reliable(primary, fallback="keep-active")
    echo = {name: (lambda state: {"messages": [("ai", f"[{state['active_task']}]")]}) for name in catalog.names}
    return create_router_graph(catalog, router=router, model=None, task_graphs=echo).compile(
        checkpointer=InMemorySaver()
    )


def _check(state: dict, i: int) -> None:
    turns, events = _conversation(i)
    assert [m.content for m in state["messages"] if m.type == "human"] == turns  # only this thread's turns
    assert [d["event"] for d in state["decisions"]] == events
    assert all(d["fallback"] is None for d in state["decisions"])


@pytest.fixture(scope="module")
def server():
    # "done" -> NONE with closing (END: the user is done); a short delay keeps many requests in flight at once.
    with FaultServer("ok", reply=keyword_reply(KEYWORDS), delay_s=0.05) as running:
        yield running


def test_os_threads_share_one_graph_without_cross_talk(server: FaultServer) -> None:
    catalog = TaskCatalog.demo()
    graph = _graph(server, catalog)

    def run(i: int) -> dict:
        config = {"configurable": {"thread_id": f"os-{i}"}}
        for text in _conversation(i)[0]:
            state = graph.invoke({"messages": [("user", text)]}, config)
        return state

    with ThreadPoolExecutor(max_workers=16) as pool:
        states = list(pool.map(run, range(16)))
    for i, state in enumerate(states):
        _check(state, i)
        _check(graph.get_state({"configurable": {"thread_id": f"os-{i}"}}).values, i)


def test_asyncio_threads_share_one_graph_without_cross_talk(server: FaultServer) -> None:
    catalog = TaskCatalog.demo()
    graph = _graph(server, catalog)

    async def run(i: int) -> dict:
        config = {"configurable": {"thread_id": f"async-{i}"}}
        for text in _conversation(i)[0]:
            state = await graph.ainvoke({"messages": [("user", text)]}, config)
        return state

    async def main() -> list[dict]:
        return await asyncio.gather(*(run(i) for i in range(16)))

    for i, state in enumerate(asyncio.run(main())):
        _check(state, i)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("task_router.routers._scoring") is None, reason="no scoring router")
def test_scoring_router_per_thread_caches_do_not_cross_talk() -> None:
    """Interleaved threads on one loaded model and one scoring router (its per-thread KV caches) decide exactly
    as the same conversations routed one at a time (cached vs uncached agreement is the scoring tests' job)."""
    catalog = TaskCatalog.demo()
    conversations = [
        ["Draft a LinkedIn post about our launch", "Make it shorter", "Now recap my meeting notes"],
        ["Write a follow-up email to Dana", "Thanks, that's all"],
        ["What's the weather like?", "Write my weekly report"],
        ["I need a one-minute pitch for our app", "Add a hook at the start", "Also a LinkedIn post"],
    ]
    shared = make_router("scoring", model="embedded")
    sequential = make_router("scoring", model="embedded")  # same cached path, one conversation at a time

    def replay(router, i: int, use_thread: bool) -> list[tuple]:
        messages, active, out = [], None, []
        for text in conversations[i]:
            messages.append({"role": "user", "content": text})
            config = {"configurable": {"thread_id": f"kv-{i}"}} if use_thread else {}
            d = router.invoke({"messages": messages, "active_task": active, "catalog": catalog}, config)
            out.append((d.event, d.task, round(d.confidence or 0.0, 2)))
            active = d.active_task_after
            messages.append({"role": "assistant", "content": f"OK ({d.task})"})
        return out

    expected = [replay(sequential, i, True) for i in range(len(conversations))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda i: replay(shared, i, True), range(len(conversations))))
    assert got == expected  # interleaving threads changes nothing, not even the confidences
    assert shared.engine.store.hits > 0  # the per-thread caches were really used
