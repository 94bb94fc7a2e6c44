"""The demo assistant served by a real `langgraph dev` (in-memory) and driven through langgraph_sdk.

The runs choose their router through the run context (the embedding router: fast, no LLM); the server's own default
(TASK_ROUTER_ROUTER) is a different kind, so the decisions show that the context reached the graph factory.
The conversation never reaches the deliverable step, so the chat model (embedded) loads but never generates.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT_DIR
from tests.serving import free_port

ROOT = ROOT_DIR
READY_TIMEOUT_S = 120
pytestmark = pytest.mark.slow


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"langgraph dev exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/ok", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"langgraph dev not ready after {READY_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("langgraph_api")
    port = free_port()
    log = tmp_path_factory.mktemp("langgraph_dev") / "server.log"
    env = {
        **os.environ,
        "LANGSMITH_TRACING": "false",
        "TASK_ROUTER_MODEL": "embedded",
        "TASK_ROUTER_ROUTER": "structured",  # the server default; runs ask for "embedding" in their context
    }
    langgraph = shutil.which("langgraph", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if langgraph is None:
        pytest.skip("the langgraph CLI is not installed: pip install 'langgraph-cli[inmem]'")
    cli = [langgraph, "dev"]
    args = ["--host", "127.0.0.1", "--port", str(port), "--no-browser", "--no-reload"]
    with log.open("wb") as out:
        proc = subprocess.Popen([*cli, *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc, log)
        yield url
    finally:
        proc.terminate()  # by its PID
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


def test_multi_turn_thread_with_review_interrupt(server: str) -> None:
    from langgraph_sdk import get_sync_client

    client = get_sync_client(url=server)
    thread_id = client.threads.create()["thread_id"]
    context = {"model": "embedded", "router": "embedding"}

    def say(text: str, **kwargs: Any) -> dict[str, Any]:
        message = {"messages": [{"role": "user", "content": text}]}
        client.runs.wait(thread_id, "task_router_demo", input=message, context=context, **kwargs)
        return client.threads.get_state(thread_id)

    state = say("Write a follow-up email to Sarah after our call")
    decision = state["values"]["decisions"][-1]
    assert (decision["event"], decision["task"], decision["router"]) == ("START", "follow_up_email", "embedding")
    assert "who the email is for" in state["values"]["messages"][-1]["content"]  # the task asks for its inputs

    state = say("Sarah Chen from ACME")
    assert state["values"]["decisions"][-1]["event"] == "CONTINUE"
    assert state["values"]["active_task"] == "follow_up_email"

    # Review: stop after the routing decision, before the task works on the turn.
    state = say("Now help me pitch my startup in one minute", interrupt_before=["task"])
    assert state["next"] == ["task"]
    decision = state["values"]["decisions"][-1]
    assert (decision["event"], decision["task"]) == ("SWITCH", "one_minute_pitch")
    assert state["values"]["messages"][-1]["type"] == "human"  # the task has not answered yet

    client.runs.wait(thread_id, "task_router_demo", input=None, context=context)  # resume
    state = client.threads.get_state(thread_id)
    assert state["next"] == []
    assert state["values"]["active_task"] == "one_minute_pitch"
    assert "One-minute pitch" in state["values"]["messages"][-1]["content"]

    state = say("Thanks, that's all I needed.")
    assert state["values"]["active_task"] is None
    assert [d["event"] for d in state["values"]["decisions"]] == ["START", "CONTINUE", "SWITCH", "END"]
    # The email's collected input survives the switch (per-task progress in the thread state).
    assert state["values"]["task_data"]["follow_up_email"]["inputs"] == {"recipient": "Sarah Chen from ACME"}
    assert len(client.threads.get_history(thread_id, limit=100)) > 4
