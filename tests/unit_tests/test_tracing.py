"""Routing decisions as traced runs: names, nesting, tags, metadata; tracing off / LangSmith unreachable."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tracers import LangChainTracer
from langchain_core.tracers.base import BaseTracer
from langchain_core.tracers.schemas import Run
from langgraph.checkpoint.memory import InMemorySaver
from langsmith import Client

from task_router import create_router_graph, make_router
from task_router._decision import ROUTER_TAG
from tests.conftest import ROOT_DIR, choice, scripted_model

ROOT = ROOT_DIR


class RecordingClient(Client):
    """A LangSmith client that records what it would send instead of sending it."""

    def __init__(self) -> None:
        super().__init__(api_url="http://127.0.0.1:9", api_key="offline", auto_batch_tracing=False, info={})
        self.created: list[dict[str, Any]] = []
        self.updated: list[dict[str, Any]] = []
        self.roots: list[Run] = []  # RunRecorder's finished root runs

    def create_run(self, name: str, inputs: dict[str, Any], run_type: str, **kwargs: Any) -> None:
        self.created.append({"name": name, **kwargs})

    def update_run(self, run_id: Any, **kwargs: Any) -> None:
        self.updated.append({"run_id": run_id, **kwargs})


class RunRecorder(LangChainTracer):
    """LangSmith's tracer (what LANGSMITH_TRACING adds), offline: keeps every finished root run in memory."""

    def __init__(self, **kwargs: Any) -> None:  # langchain-core makes copies of it for nested runs' metadata
        kwargs.setdefault("client", RecordingClient())
        super().__init__(**{"project_name": "offline", **kwargs})
        self.roots: list[Run] = self.client.roots  # shared by the copies

    def _persist_run(self, run: Run) -> None:
        self.roots.append(run)


def walk(run: Run, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Run]]:
    path = (*path, run.name)
    return [(path, run), *(item for child in run.child_runs for item in walk(child, path))]


def router_runs(recorder: RunRecorder) -> list[tuple[tuple[str, ...], Run]]:
    return [(p, r) for root in recorder.roots for p, r in walk(root) if r.name.startswith("TaskRouter[")]


def build_app(catalog, router_replies, writer_replies=()):
    router = make_router("structured", model=scripted_model(*router_replies))
    writer = GenericFakeChatModel(messages=iter(AIMessage(r) for r in writer_replies))
    return create_router_graph(catalog, router=router, model=writer).compile(checkpointer=InMemorySaver())


def test_each_decision_is_a_tagged_run_under_the_router_node(catalog):
    app = build_app(catalog, [choice("post"), choice("DONE", True)], ["POST"])
    recorder = RunRecorder()
    cfg: dict[str, Any] = {"configurable": {"thread_id": "t"}, "callbacks": [recorder], "tags": ["mine"]}
    app.invoke({"messages": [("user", "Draft a LinkedIn post")]}, cfg)
    catalog.remove("email")  # the next decision sees a new catalogue version
    app.invoke({"messages": [("user", "That's all, thanks")]}, cfg)

    found = router_runs(recorder)
    # make_reliable's runs: the composition, its retry loop, then the decision
    nesting = ("LangGraph", "router", "ReliableRouter[structured]", "Retry[structured]", "TaskRouter[structured]")
    assert [path for path, _ in found] == [nesting] * 2
    first, second = (run for _, run in found)
    for run in (first, second):
        assert {ROUTER_TAG, "router:structured", "mine"} <= set(run.tags)
        assert run.run_type == "chain" and run.end_time is not None
    meta = first.extra["metadata"]
    assert {k: meta[k] for k in ("event", "task", "valid_format", "router", "catalog_version")} == {
        "event": "START",
        "task": "post",
        "valid_format": True,
        "router": "structured",
        "catalog_version": 0,
    }
    assert meta["model"] == "GenericFakeChatModel" and meta["confidence"] is None and meta["latency_ms"] >= 0
    assert (second.extra["metadata"]["event"], second.extra["metadata"]["task"]) == ("END", "post")
    assert second.extra["metadata"]["catalog_version"] == 1
    # The router's tags stay on its own run: its model call (a child) does not inherit them.
    llm_runs = [child for child in first.child_runs if child.run_type == "llm"]
    assert llm_runs and all(ROUTER_TAG not in child.tags for child in llm_runs)
    assert "event" not in llm_runs[0].extra.get("metadata", {})


def test_router_as_plain_runnable_in_lcel(catalog):
    router = make_router("structured", model=scripted_model(choice("recap")), catalog=catalog)
    chain = router | RunnableLambda(lambda decision: f"{decision.event}:{decision.task}", name="describe")
    recorder = RunRecorder()
    out = chain.invoke({"messages": [{"role": "user", "content": "Recap my meeting"}]}, {"callbacks": [recorder]})
    assert out == "START:recap"
    [(path, run)] = router_runs(recorder)
    assert path == ("RunnableSequence", "TaskRouter[structured]")
    assert run.extra["metadata"]["event"] == "START"


def test_other_tracers_get_the_decision_as_the_run_output(catalog):
    class PlainTracer(BaseTracer):
        def __init__(self) -> None:
            super().__init__()
            self.roots: list[Run] = []

        def _persist_run(self, run: Run) -> None:
            self.roots.append(run)

    router = make_router("structured", model=scripted_model(choice("recap")), catalog=catalog)
    tracer = PlainTracer()
    router.invoke({"messages": [{"role": "user", "content": "Recap my meeting"}]}, {"callbacks": [tracer]})
    [run] = tracer.roots
    assert run.name == "TaskRouter[structured]" and {ROUTER_TAG, "router:structured"} <= set(run.tags)
    assert run.extra["metadata"]["router"] == "structured"  # start metadata: every tracer
    assert (run.outputs["output"].event, run.outputs["output"].task) == ("START", "recap")


def test_langsmith_receives_the_decision_metadata_when_the_run_ends(catalog):
    client = RecordingClient()
    tracer = LangChainTracer(client=client, project_name="offline")
    app = build_app(catalog, [choice("recap")], [])
    cfg: dict[str, Any] = {"configurable": {"thread_id": "t"}, "callbacks": [tracer]}
    app.invoke({"messages": [("user", "Recap my meeting")]}, cfg)
    tracer.wait_for_futures()
    [update] = [u for u in client.updated if u.get("name") == "TaskRouter[structured]"]
    assert update["extra"]["metadata"]["event"] == "START" and update["extra"]["metadata"]["task"] == "recap"
    assert {ROUTER_TAG, "router:structured"} <= set(update["tags"])


@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket")  # it does, on purpose
def test_tracing_off_makes_no_network_call(catalog, monkeypatch):
    pytest_socket = pytest.importorskip("pytest_socket")
    for name in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGCHAIN_TRACING", "LANGSMITH_TRACING_V2"):
        monkeypatch.delenv(name, raising=False)
    attempts: list[tuple[Any, ...]] = []
    pytest_socket.disable_socket(allow_unix_socket=False)
    try:
        guarded = socket.socket

        class CountingSocket(guarded):  # type: ignore[misc, valid-type]
            def __new__(cls, *args: Any, **kwargs: Any) -> Any:
                attempts.append(args)
                return super().__new__(cls, *args, **kwargs)

        socket.socket = CountingSocket  # type: ignore[misc]
        app = build_app(catalog, [choice("post"), choice("post", True)], ["POST"])
        cfg = {"configurable": {"thread_id": "t"}}
        app.invoke({"messages": [("user", "Draft a LinkedIn post")]}, cfg)
        out = app.invoke({"messages": [("user", "Thanks, bye")]}, cfg)
        assert out["decisions"][-1]["event"] == "END"
        assert attempts == []
        with pytest.raises(pytest_socket.SocketBlockedError):  # the guard is live
            socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        assert len(attempts) == 1
    finally:
        socket.socket = guarded  # type: ignore[misc]
        pytest_socket.enable_socket()


CONVERSATION = textwrap.dedent(
    """
    import json, time
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langgraph.checkpoint.memory import InMemorySaver
    from task_router import Task, TaskCatalog, create_router_graph, make_router

    def fake(*replies):
        return GenericFakeChatModel(messages=iter(AIMessage(r) for r in replies))

    catalog = TaskCatalog([Task(name="post", description="Draft a LinkedIn post.")])
    router = make_router("structured", model=fake('{"task": "post"}', '{"task": "post", "closing": true}'))
    app = create_router_graph(catalog, router=router, model=fake("POST")).compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "t"}}
    events = [app.invoke({"messages": [("user", text)]}, cfg)["decisions"][-1]["event"]
              for text in ("Draft a LinkedIn post", "Thanks, bye")]
    print(json.dumps(events), flush=True)
    print(f"done_at={time.time()}", flush=True)
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "use_daemon",
    [
        # langsmith's default: at exit its tracing thread retries the unreachable endpoint (urllib3 backoff) before
        # giving up; measured ~12 s on this machine. Bounded, but not prompt: hence slow.
        pytest.param("false", marks=pytest.mark.slow, id="langsmith-default"),
        # LANGSMITH_USE_DAEMON=true: the tracing thread does not hold the process; exit is immediate.
        pytest.param("true", id="use-daemon"),
    ],
)
def test_tracing_on_with_langsmith_unreachable_still_works_and_exits(tmp_path, use_daemon):
    script = tmp_path / "conversation.py"
    script.write_text(CONVERSATION)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(Path.home()),
        "PYTHONPATH": str(ROOT),
        "LANGSMITH_TRACING": "true",
        "LANGSMITH_ENDPOINT": f"http://127.0.0.1:{free_port()}",  # nothing listens there
        "LANGSMITH_API_KEY": "lsv2_fake_key_for_tests",
        "LANGSMITH_USE_DAEMON": use_daemon,
    }
    started = time.time()
    proc = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    ended = time.time()
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == '["START", "END"]'
    done_at = float(lines[1].split("=")[1])
    # Reported, not asserted (no timed assertions): how long the process needed to exit after the conversation.
    print(f"LANGSMITH_USE_DAEMON={use_daemon}: exit {ended - done_at:.2f} s after the conversation", end=" ")
    print(f"(total {ended - started:.2f} s)")
