"""Crash safety and writers on one thread (issue 24): acknowledged turns lost, and interrupted turns resumable.

    python benchmarks/crash_safety.py                       # SQLite only
    python benchmarks/crash_safety.py --postgres URL        # and PostgreSQL (e.g. scripts/start_postgres.sh's URL)
    python benchmarks/crash_safety.py --random 50 --writers 2 4 --turns 50

Each trial is a worker process running turns on one thread of a real saver (``sqlite_checkpointer`` /
``postgres_checkpointer``) with ``durability="sync"``, as ``task-router chat`` does (``--durability async``:
LangGraph's default, for comparison). A turn is acknowledged once
``invoke`` returned (the worker prints it then). Kill points: ``before-router`` (SIGKILL when the router node
starts), ``in-router`` (inside the router's call, where a model would be), ``in-task`` (inside the task node),
``random`` (``kill -9`` from outside at a random moment of a run of turns). After each kill a new process calls
``resume_pending_turn`` and reads the thread: **lost** = acknowledged turns missing from it; the killed turn is
**not saved** (killed before its input checkpoint: never acknowledged), **finished** (done, killed before it was
acknowledged) or **pending**, then **resumed** when the resume gave it its decision; **consistent after** = one
decision per user message and nothing left to run. Writers: N
processes x T turns at once on one thread, unlocked (the saver refuses the run that fell behind:
``ThreadConflictError``) and under ``thread_lock`` (turns queue). The router and task node are stand-ins
(a few ms each): this measures persistence, not models.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DURABILITY = ["sync"]  # --durability async shows LangGraph's default
WORKER = r"""
import json, os, random, signal, sys, time
from contextlib import ExitStack, nullcontext
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableLambda
from task_router import TaskCatalog, create_router_graph
from task_router._decision import RouteDecision
from task_router.persistence import postgres_checkpointer, sqlite_checkpointer, thread_lock
from task_router.reliability import pending_turn, resume_pending_turn

store, thread, mode, name, turns, locked = sys.argv[1:7]
turns, locked = int(turns), locked == "1"
die = lambda: os.kill(os.getpid(), signal.SIGKILL)

def route(payload, *_):
    if mode == "in-router" and payload["messages"][-1].content.endswith("KILL"):
        die()
    time.sleep(random.uniform(0.001, 0.01))
    event = "CONTINUE" if payload.get("active_task") else "START"
    return RouteDecision(event=event, task="linkedin_post", router="bench")

def task(state):
    if mode == "in-task" and state["messages"][-1].content.endswith("KILL"):
        die()
    time.sleep(random.uniform(0.001, 0.01))
    return {"messages": [("ai", "ok")]}

class KillBeforeRouter(BaseCallbackHandler):
    def on_chain_start(self, serialized, inputs, *, name=None, **kwargs):
        messages = inputs.get("messages") if isinstance(inputs, dict) else None
        if name == "router" and messages and str(messages[-1].content).endswith("KILL"):
            die()

with ExitStack() as stack:
    if store.startswith("postgresql"):
        saver = stack.enter_context(postgres_checkpointer(store))
    else:
        saver = sqlite_checkpointer(store)
    tasks = {t: task for t in TaskCatalog.demo().names}
    graph = create_router_graph(TaskCatalog.demo(), router=RunnableLambda(route), model=None, task_graphs=tasks)
    graph = graph.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": thread}}
    if mode == "check":
        pending = pending_turn(graph, config)
        resume_pending_turn(graph, config)
        state = graph.get_state(config)
        users = [m.content for m in state.values.get("messages", []) if m.type == "human"]
        decisions = len(state.values.get("decisions", []))
        report = {"pending": pending, "users": users, "decisions": decisions, "next": list(state.next)}
        print("STATE " + json.dumps(report), flush=True)
        sys.exit(0)
    run_config = {**config, "callbacks": [KillBeforeRouter()]} if mode == "before-router" else config
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(turns):
        kill = mode in ("before-router", "in-router", "in-task") and i == turns - 1
        text = f"{name} turn {i}" + (" KILL" if kill else "")
        try:
            with thread_lock(saver, thread) if locked else nullcontext():
                graph.invoke({"messages": [("user", text)]}, run_config, durability=os.environ["CRASH_DURABILITY"])
            print("ACK " + text, flush=True)
        except Exception as exc:
            print("REFUSED " + type(exc).__name__, flush=True)
"""


def start(script: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CRASH_DURABILITY": DURABILITY[0]}
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_lines(proc: subprocess.Popen, timeout: float = 600) -> tuple[list[str], int]:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode not in (0, -signal.SIGKILL):
        raise RuntimeError(err[-3000:])
    return out.splitlines(), proc.returncode


def check(script: Path, store: str, thread: str) -> dict:
    lines, _ = read_lines(start(script, store, thread, "check", "-", "0", "0"))
    return json.loads(next(line for line in lines if line.startswith("STATE "))[6:])


def kill_trial(script: Path, store: str, mode: str, rng: random.Random) -> dict:
    thread = f"crash-{uuid.uuid4().hex[:10]}"
    proc = start(script, store, thread, mode, "w", "3" if mode != "random" else "400", "0")
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-3000:]
    proc.stdin.write("go\n")
    proc.stdin.flush()
    if mode == "random":
        time.sleep(rng.uniform(0.05, 1.5))
        proc.kill()
    lines, code = read_lines(proc)
    acked = [line[4:] for line in lines if line.startswith("ACK ")]
    state = check(script, store, thread)
    users = state["users"]
    interrupted = next((u for u in users if u not in acked), None)
    return {
        "killed": code == -signal.SIGKILL,
        "acked": len(acked),
        "lost": len(set(acked) - set(users)),
        "not_saved": interrupted is None,
        "finished": interrupted is not None and state["pending"] is None,  # done, killed before its ACK was printed
        "pending": interrupted is not None and state["pending"] == interrupted,
        # resumed: the pending turn got its decision from resume_pending_turn (one decision per user message)
        "resumed": interrupted is not None and state["pending"] == interrupted and state["decisions"] == len(users),
        "consistent": state["decisions"] == len(users) and not state["next"],
    }


def writers_trial(script: Path, store: str, writers: int, turns: int, locked: bool) -> dict:
    thread = f"writers-{uuid.uuid4().hex[:10]}"
    procs = [
        start(script, store, thread, "writers", f"w{i}", str(turns), "1" if locked else "0") for i in range(writers)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-3000:]
    started = time.perf_counter()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [read_lines(proc)[0] for proc in procs]
    wall = time.perf_counter() - started
    acked = [line[4:] for lines in outputs for line in lines if line.startswith("ACK ")]
    refused = sum(line.startswith("REFUSED ") for lines in outputs for line in lines)
    users = check(script, store, thread)["users"]
    return {
        "writers": writers,
        "turns": writers * turns,
        "locked": locked,
        "acked": len(acked),
        "refused": refused,
        "lost": len(set(acked) - set(users)),
        "stored": len(users),
        "stored_not_acked": len(set(users) - set(acked)),
        "wall_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a PostgreSQL URL (else SQLite only)")
    parser.add_argument("--trials", type=int, default=5, help="trials per fixed kill point")
    parser.add_argument("--random", type=int, default=50, help="random kill -9 trials per saver")
    parser.add_argument("--writers", type=int, nargs="*", default=[2, 4])
    parser.add_argument("--turns", type=int, default=50, help="turns per writer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--durability", choices=["sync", "async"], default="sync", help="LangGraph durability")
    parser.add_argument("--no-writers", action="store_true", help="only the kill table")
    args = parser.parse_args()
    DURABILITY[0] = args.durability
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "worker.py"
        script.write_text(WORKER)
        stores = {"SQLite": str(Path(tmp) / "threads.sqlite")}
        if args.postgres:
            stores["PostgreSQL"] = args.postgres
        print(
            "| saver | durability | kill point | trials | acknowledged | lost | killed turn not saved | finished "
            "before the kill | pending | resumed | consistent after |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for saver, store in stores.items():
            for mode in ("before-router", "in-router", "in-task", "random"):
                count = args.random if mode == "random" else args.trials
                rows = [kill_trial(script, store, mode, rng) for _ in range(count)]
                total = {key: sum(r[key] for r in rows) for key in rows[0]}
                print(
                    f"| {saver} | {args.durability} | {mode} | {count} | {total['acked']} | {total['lost']} | "
                    f"{total['not_saved']} | {total['finished']} | {total['pending']} | {total['resumed']} of "
                    f"{total['pending']} | {total['consistent']} |",
                    flush=True,
                )
        if args.no_writers:
            return
        print()
        print(
            "| saver | writers | turns | thread_lock | acknowledged | refused (ThreadConflictError) | lost | stored | "
            "stored, not acknowledged | wall s |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for saver, store in stores.items():
            for writers in args.writers:
                for locked in (False, True):
                    r = writers_trial(script, store, writers, args.turns, locked)
                    print(
                        f"| {saver} | {writers} | {r['turns']} | {'yes' if locked else 'no'} | {r['acked']} | "
                        f"{r['refused']} | {r['lost']} | {r['stored']} | {r['stored_not_acked']} | {r['wall_s']} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
