"""A process killed (SIGKILL, by PID) while the model is generating leaves the thread consistent; the next
process resumes it from the checkpoint — SQLite, and PostgreSQL on a real server started on 127.0.0.1.

Documented behaviour: the interrupted user turn is *replayable*. LangGraph saved the user's message before the
router node ran, so the thread holds that message with no decision and ``next == ("router",)``;
``resume_pending_turn`` finishes it, after which every user message has exactly one decision.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT_DIR
from tests.fault_server import FaultServer, keyword_reply
from tests.serving import free_port

ROOT = ROOT_DIR
KEYWORDS = keyword_reply({"linkedin": "linkedin_post", "recap": "meeting_recap", "email": "follow_up_email"})
WORKER = """
import json, sys
from contextlib import ExitStack
from task_router import TaskCatalog, create_router_graph, load_chat_model, make_router
from task_router.reliability import make_reliable, pending_turn, resume_pending_turn

base_url, store, thread, action, text = sys.argv[1:6]
with ExitStack() as stack:
    if store.startswith("postgresql://"):
        from langgraph.checkpoint.postgres import PostgresSaver
        saver = stack.enter_context(PostgresSaver.from_conn_string(store))
        saver.setup()
        durability = "sync"
    else:
        from task_router.persistence import sqlite_checkpointer
        saver, durability = sqlite_checkpointer(store), "async"
    model = load_chat_model("openai:fake", base_url=base_url, timeout=120, max_retries=0)
    router = make_reliable(make_router("structured", model=model, timeout_s=120), fallback="keep-active")
    graph = create_router_graph(TaskCatalog.demo(), router=router, model=model).compile(checkpointer=saver)
    config = {"configurable": {"thread_id": thread}}
    report = {"pending": pending_turn(graph, config)}
    if action == "resume":
        resume_pending_turn(graph, config)
    print("generating", flush=True)
    graph.invoke({"messages": [("user", text)]}, config, durability=durability)
    state = graph.get_state(config)
    report.update(
        messages=[[m.type, m.content] for m in state.values["messages"]],
        decisions=[[d["event"], d["task"]] for d in state.values["decisions"]],
        next=list(state.next),
    )
    print("REPORT " + json.dumps(report), flush=True)
"""


def _pythonpath() -> str:
    """The repository, then the caller's own PYTHONPATH (a checkout run without installing it stays the code
    under test in the subprocesses too)."""
    return os.pathsep.join(path for path in (str(ROOT), os.environ.get("PYTHONPATH")) if path)


def _worker(tmp_path: Path, base_url: str, store: str, thread: str, action: str, text: str) -> subprocess.Popen:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": _pythonpath()}
    cmd = [sys.executable, str(script), base_url, store, thread, action, text]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)


def _report(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(next(line for line in out.splitlines() if line.startswith("REPORT "))[7:])


def _kill_mid_turn_then_resume(tmp_path: Path, store: str) -> None:
    thread = f"restart-{uuid.uuid4().hex[:8]}"
    with FaultServer("ok", reply=KEYWORDS) as server:
        first = _report(_worker(tmp_path, server.base_url, store, thread, "turn", "write a linkedin post"))
    assert first["decisions"] == [["START", "linkedin_post"]]

    with FaultServer("hang", hang_s=300) as server:  # the model "generates" until the process is killed
        proc = _worker(tmp_path, server.base_url, store, thread, "turn", "now recap my meeting")
        try:
            assert server.arrived.wait(240), "the worker never reached the model"
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL

    with FaultServer("ok", reply=KEYWORDS) as server:
        last = _report(_worker(tmp_path, server.base_url, store, thread, "resume", "and an email to Dana"))
    assert last["pending"] == "now recap my meeting"  # the killed turn was saved, without a decision
    users = [text for kind, text in last["messages"] if kind == "human"]
    assert users == ["write a linkedin post", "now recap my meeting", "and an email to Dana"]
    assert last["decisions"] == [
        ["START", "linkedin_post"],
        ["SWITCH", "meeting_recap"],
        ["SWITCH", "follow_up_email"],
    ]
    assert last["next"] == []


@pytest.mark.slow
def test_sqlite_thread_survives_sigkill_mid_turn(tmp_path: Path) -> None:
    _kill_mid_turn_then_resume(tmp_path, str(tmp_path / "threads.sqlite"))


def start_postgres(*, env: dict[str, str] | None = None, timeout: float = 900) -> str:
    """Start (installing if needed) a throwaway PostgreSQL on 127.0.0.1 with scripts/start_postgres.sh; its URL."""
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "start_postgres.sh")],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode == 3:
        pytest.skip(f"PostgreSQL cannot be installed on this machine: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return start_postgres()


def test_the_start_script_answers_again_once_it_started_a_server() -> None:
    """The script's start lock must not be inherited by the server it starts (CI hung 900 s on the second call)."""
    data = tempfile.mkdtemp(prefix="task_router_pg_")
    env = {"TASK_ROUTER_PG_DIR": data, "TASK_ROUTER_PG_PORT": str(free_port())}
    try:
        url = start_postgres(env=env)
        assert start_postgres(env=env, timeout=60) == url
    finally:
        script = str(ROOT / "scripts" / "start_postgres.sh")
        subprocess.run(["bash", script, "stop"], env={**os.environ, **env}, timeout=60, check=True)
        shutil.rmtree(data, ignore_errors=True)
        Path(data + ".lock").unlink(missing_ok=True)


@pytest.mark.slow
def test_postgres_thread_survives_sigkill_mid_turn(tmp_path: Path, postgres_url: str) -> None:
    _kill_mid_turn_then_resume(tmp_path, postgres_url)


KILLER = """
import os, signal, sys
from langchain_core.runnables import RunnableLambda
from rich.console import Console
from task_router import TaskCatalog, create_router_graph
from task_router.cli._chat import run_turn
from task_router.persistence import sqlite_checkpointer

store, thread, text, where = sys.argv[1:5]
die = lambda *_: os.kill(os.getpid(), signal.SIGKILL)
saver = sqlite_checkpointer(store)
if where == "after-input":  # dies right after LangGraph saved the input, before it reached the state
    put = saver.put
    saver.put = lambda config, checkpoint, metadata, versions: (
        put(config, checkpoint, metadata, versions), metadata.get("source") == "input" and die()
    )[0]
if where == "after-start-writes":  # dies after the input step's writes were saved, before its checkpoint
    put_writes = saver.put_writes
    saver.put_writes = lambda config, writes, *args: (
        put_writes(config, writes, *args), any(channel == "branch:to:router" for channel, _ in writes) and die()
    )[0]
router = RunnableLambda(die)  # else dies inside the router node
echo = {name: (lambda state: {"messages": [("ai", "ok")]}) for name in TaskCatalog.demo().names}
graph = create_router_graph(TaskCatalog.demo(), router=router, model=None, task_graphs=echo).compile(
    checkpointer=saver
)
run_turn(graph, {"messages": [("user", text)]}, {"configurable": {"thread_id": thread}}, Console())
"""


@pytest.mark.parametrize("where", ["in-router", "after-input", "after-start-writes"])
def test_a_kill_inside_the_router_keeps_the_turn_and_chat_finishes_it(tmp_path: Path, where: str) -> None:
    """The chat saves the user's message before routing it (LangGraph's durability="sync"): a process that dies
    inside the router, or right after the input was saved, leaves a pending turn that `task-router chat --thread`
    finishes."""
    store, thread = tmp_path / "threads.sqlite", "killed-in-router"
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "PYTHONPATH": _pythonpath()}
    proc = subprocess.run(
        [sys.executable, str(script), str(store), thread, "Write a LinkedIn post about our launch", where],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]

    command = [sys.executable, "-c", "from task_router.cli import app; app()", "chat", "--thread", thread]
    command += ["--db", str(store)]
    if where == "in-router":  # the defaults end to end: the learned router, the embedded model writes the post
        chat = subprocess.run(
            command, input="/quit\n", capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600
        )
    else:  # the same resume; the reply from the local fault server (what is tested is the thread, not the writing)
        with FaultServer("ok", reply=keyword_reply({"linkedin": "linkedin_post"})) as server:
            command += ["--model", "openai:fake", "--base-url", server.base_url, "--router", "learned"]
            chat = subprocess.run(
                command,
                input="/quit\n",
                capture_output=True,
                text=True,
                env={**env, "OPENAI_API_KEY": "test"},
                cwd=tmp_path,
                timeout=600,
            )
    assert chat.returncode == 0, chat.stderr[-3000:]
    assert "finishing the turn that was interrupted" in chat.stdout
    assert "START linkedin_post" in chat.stdout
