"""Two writers on one thread (issue 24, item 2): processes running the same ``thread_id`` on one database never
lose an acknowledged turn. Unlocked, the savers refuse the write of the run that fell behind
(``ThreadConflictError``: that turn is not acknowledged); under ``thread_lock`` (what ``task-router chat`` holds
around each turn) the turns queue and every one is stored."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from task_router.persistence import postgres_checkpointer, thread_lock
from tests.conftest import ROOT_DIR
from tests.fault_server import FaultServer, keyword_reply

WRITER = """
import json, sys, time
from contextlib import ExitStack, nullcontext
from langchain_core.runnables import RunnableLambda
from task_router import TaskCatalog, create_router_graph
from task_router._decision import RouteDecision
from task_router.persistence import postgres_checkpointer, sqlite_checkpointer, thread_lock

store, thread, name, turns, locked = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"

def route(payload, *_):
    time.sleep(0.01)  # a decision takes a while: the other writer's steps interleave
    event = "CONTINUE" if payload.get("active_task") else "START"
    return RouteDecision(event=event, task="linkedin_post", router="test")

echo = {task: (lambda state: {"messages": [("ai", "ok")]}) for task in TaskCatalog.demo().names}
with ExitStack() as stack:
    if store.startswith("postgresql://"):
        saver = stack.enter_context(postgres_checkpointer(store))
    else:
        saver = sqlite_checkpointer(store)
    graph = create_router_graph(TaskCatalog.demo(), router=RunnableLambda(route), model=None, task_graphs=echo)
    graph = graph.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": thread}}
    acked, refused = [], []
    print("ready", flush=True)
    sys.stdin.readline()  # every writer starts together
    for i in range(turns):
        text = f"{name} turn {i}"
        try:
            with thread_lock(saver, thread) if locked else nullcontext():
                graph.invoke({"messages": [("user", text)]}, config, durability="sync")
            acked.append(text)
        except Exception as exc:
            refused.append(type(exc).__name__)
    state = graph.get_state(config).values
    stored = [m.content for m in state["messages"] if m.type == "human"]
    print("REPORT " + json.dumps({"acked": acked, "refused": refused, "stored": stored}), flush=True)
"""


def run_writers(tmp_path: Path, store: str, *, writers: int, turns: int, locked: bool) -> list[dict]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(ROOT_DIR)}
    thread = f"shared-{tmp_path.name}"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), store, thread, f"w{i}", str(turns), "1" if locked else "0"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(writers)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-3000:]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        reports.append(json.loads(next(line for line in out.splitlines() if line.startswith("REPORT "))[7:]))
    return reports


def check_nothing_acknowledged_is_lost(reports: list[dict], *, turns: int) -> tuple[int, int]:
    stored = set(max((r["stored"] for r in reports), key=len))  # the thread only grows: the last reading
    for report in reports:
        assert len(report["acked"]) + len(report["refused"]) == turns
        assert set(report["refused"]) <= {"ThreadConflictError"}
        assert set(report["acked"]) <= stored  # nothing acknowledged is lost
    return sum(len(r["acked"]) for r in reports), sum(len(r["refused"]) for r in reports)


def test_two_processes_on_one_sqlite_thread_lose_no_acknowledged_turn(tmp_path: Path) -> None:
    reports = run_writers(tmp_path, str(tmp_path / "threads.sqlite"), writers=2, turns=15, locked=False)
    acked, refused = check_nothing_acknowledged_is_lost(reports, turns=15)
    assert acked >= 1 and acked + refused == 30


def test_turns_under_thread_lock_queue_and_are_all_stored(tmp_path: Path) -> None:
    reports = run_writers(tmp_path, str(tmp_path / "threads.sqlite"), writers=2, turns=15, locked=True)
    assert check_nothing_acknowledged_is_lost(reports, turns=15) == (30, 0)
    assert max(len(r["stored"]) for r in reports) == 30


def test_a_stale_parent_is_refused_in_one_process(tmp_path: Path) -> None:
    from langgraph.checkpoint.base import empty_checkpoint

    from task_router.persistence import ThreadConflictError, sqlite_checkpointer

    saver = sqlite_checkpointer(tmp_path / "threads.sqlite")
    base = {"configurable": {"thread_id": "t", "checkpoint_ns": ""}}
    first = saver.put(base, empty_checkpoint(), {"source": "input", "step": -1}, {})
    saver.put(first, empty_checkpoint(), {"source": "loop", "step": 0}, {})
    with pytest.raises(ThreadConflictError, match="two writers on one thread"):
        saver.put(first, empty_checkpoint(), {"source": "loop", "step": 0}, {})  # first is no longer the latest
    free = sqlite_checkpointer(tmp_path / "threads.sqlite", one_writer=False)  # time travel, on purpose
    free.put(first, empty_checkpoint(), {"source": "fork", "step": 0}, {})


OPENER = """
import sys, time
from task_router.persistence import sqlite_checkpointer
folder, start, rounds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
for i in range(rounds):
    time.sleep(max(0.0, start + 0.25 * i - time.time()))
    sqlite_checkpointer(f"{folder}/round{i}.sqlite")
"""


def test_processes_opening_one_new_database_together_all_open_it(tmp_path: Path) -> None:
    """Creating the file and switching it to WAL raced: SQLite answered "database is locked" without waiting, about
    one round in eight, which failed a CI run (session 10). Three processes open new files together, 30 rounds."""
    import time

    script = tmp_path / "opener.py"
    script.write_text(OPENER)
    env = {**os.environ, "PYTHONPATH": str(ROOT_DIR)}
    start = str(time.time() + 8.0)  # after the imports of every process, even on a busy machine
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path), start, "30"], stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]


@pytest.mark.slow
def test_two_processes_on_one_postgres_thread_lose_no_acknowledged_turn(tmp_path: Path) -> None:
    from tests.integration_tests.test_restarts import start_postgres

    url = start_postgres()
    reports = run_writers(tmp_path, url, writers=2, turns=15, locked=False)
    acked, refused = check_nothing_acknowledged_is_lost(reports, turns=15)
    assert acked >= 1 and acked + refused == 30


@pytest.mark.slow
def test_turns_under_thread_lock_queue_on_postgres_too(tmp_path: Path) -> None:
    from tests.integration_tests.test_restarts import start_postgres

    reports = run_writers(tmp_path, start_postgres(), writers=2, turns=15, locked=True)
    assert check_nothing_acknowledged_is_lost(reports, turns=15) == (30, 0)


@pytest.mark.slow
def test_threads_of_one_process_queue_under_thread_lock_on_postgres() -> None:
    """A session advisory lock is re-entrant for its session: two threads of one process, on one saver (one
    connection), both held the same thread at once, so their turns ran together (one refused, or one lost)."""
    import threading
    import time

    from tests.integration_tests.test_restarts import start_postgres

    held: list[str] = []
    with postgres_checkpointer(start_postgres()) as saver:

        def turn(name: str) -> None:
            with thread_lock(saver, "shared-in-process"):
                held.append(f"{name} in")
                time.sleep(0.3)
                held.append(f"{name} out")

        workers = [threading.Thread(target=turn, args=(name,)) for name in ("a", "b")]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
    assert len(held) == 4 and all(held[i].split()[0] == held[i + 1].split()[0] for i in (0, 2)), held


@pytest.mark.slow
def test_a_thread_waiting_for_another_process_does_not_hold_up_this_process_s_other_threads() -> None:
    """While another process holds thread T1, a thread of this one waits for T1 without holding the saver's one
    connection: this process's turns on other threads go on (a blocking pg_advisory_lock held it, so they all waited
    for the other process, and two processes waiting on each other's threads deadlocked)."""
    import threading

    from tests.integration_tests.test_restarts import start_postgres

    url = start_postgres()
    with postgres_checkpointer(url) as mine, postgres_checkpointer(url) as other_process:
        release_other, other_holds, mine_on_t1 = threading.Event(), threading.Event(), threading.Event()

        def hold_t1_elsewhere() -> None:
            with thread_lock(other_process, "T1"):
                other_holds.set()
                release_other.wait(timeout=60)

        def wait_for_t1_here() -> None:
            with thread_lock(mine, "T1"):
                mine_on_t1.set()

        holder = threading.Thread(target=hold_t1_elsewhere)
        holder.start()
        assert other_holds.wait(timeout=60)
        waiter = threading.Thread(target=wait_for_t1_here)
        waiter.start()
        done_t2 = threading.Event()

        def turn_on_t2() -> None:
            with thread_lock(mine, "T2"):
                done_t2.set()

        other_thread = threading.Thread(target=turn_on_t2)
        other_thread.start()
        went_on = done_t2.wait(timeout=30)  # while the other process still holds T1
        release_other.set()
        for worker in (holder, waiter, other_thread):
            worker.join(timeout=60)
    assert went_on, "a turn on T2 waited for another process's turn on T1"
    assert mine_on_t1.is_set()  # and the waiting thread got T1 once it was released


def test_two_chats_on_one_thread_store_every_turn(tmp_path: Path) -> None:
    """Two `task-router chat --thread T` processes typing at once (the task replies streamed from the local
    OpenAI-compatible server): each turn waits for the other's to finish, and every turn is stored."""
    db = tmp_path / "threads.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT_DIR)}
    texts = {name: [f"{name}: a linkedin post, take {i}" for i in range(6)] for name in ("left", "right")}
    with FaultServer("ok", reply=keyword_reply({"linkedin": "linkedin_post"}), delay_s=0.05) as server:
        command = [sys.executable, "-c", "from task_router.cli import app; app()", "chat", "--thread", "T"]
        command += ["--db", str(db), "--model", "openai:fake", "--base-url", server.base_url, "--router", "embedding"]
        procs = [
            subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**env, "OPENAI_API_KEY": "test"},
                cwd=tmp_path,
            )
            for _ in texts
        ]
        outs = [
            proc.communicate("\n".join([*lines, "/quit"]) + "\n", timeout=600)
            for proc, lines in zip(procs, texts.values(), strict=True)
        ]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    from task_router.persistence import sqlite_checkpointer

    saver = sqlite_checkpointer(db)
    state = saver.get_tuple({"configurable": {"thread_id": "T", "checkpoint_ns": ""}}).checkpoint["channel_values"]
    stored = [m.content for m in state["messages"] if m.type == "human"]
    assert sorted(stored) == sorted(texts["left"] + texts["right"])
    replies = [m.content for m in state["messages"] if m.type == "ai"]
    assert len(replies) == len(stored) and all('"task"' in reply for reply in replies), replies  # the server's


def test_the_async_postgres_saver_runs_the_async_graph_and_refuses_a_stale_parent() -> None:
    """graph.ainvoke over PostgreSQL (the sync savers have no async methods) with the same one-writer check."""
    import asyncio

    from langchain_core.runnables import RunnableLambda
    from langgraph.checkpoint.base import empty_checkpoint

    from task_router import TaskCatalog, create_router_graph
    from task_router._decision import RouteDecision
    from task_router.persistence import ThreadConflictError, async_postgres_checkpointer
    from tests.integration_tests.test_restarts import start_postgres

    url = start_postgres()
    thread = f"async-{os.getpid()}-{id(url)}"

    async def route(payload: dict) -> RouteDecision:
        event = "CONTINUE" if payload.get("active_task") else "START"
        return RouteDecision(event=event, task="linkedin_post", router="test")

    async def main() -> tuple[list, list]:
        echo = {task: (lambda state: {"messages": [("ai", "ok")]}) for task in TaskCatalog.demo().names}
        graph = create_router_graph(TaskCatalog.demo(), router=RunnableLambda(route), model=None, task_graphs=echo)
        async with async_postgres_checkpointer(url) as saver:
            app = graph.compile(checkpointer=saver)
            config = {"configurable": {"thread_id": thread}}
            for text in ("a linkedin post", "shorter"):
                state = await app.ainvoke({"messages": [("user", text)]}, config)
            base = {"configurable": {"thread_id": f"{thread}-raw", "checkpoint_ns": ""}}
            first = await saver.aput(base, empty_checkpoint(), {"source": "input", "step": -1}, {})
            await saver.aput(first, empty_checkpoint(), {"source": "loop", "step": 0}, {})
            with pytest.raises(ThreadConflictError, match="two writers on one thread"):
                await saver.aput(first, empty_checkpoint(), {"source": "loop", "step": 0}, {})
        return state["messages"], state["decisions"]

    messages, decisions = asyncio.run(main())
    assert [m.content for m in messages if m.type == "human"] == ["a linkedin post", "shorter"]
    assert [d["event"] for d in decisions] == ["START", "CONTINUE"]
