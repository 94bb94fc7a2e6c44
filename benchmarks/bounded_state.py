"""Bounded resources (issue 25, item 2): one long thread's checkpoint and memory, and threads after a burst.

    python benchmarks/bounded_state.py                                   # the tables of benchmarks/RELIABILITY.md
    python benchmarks/bounded_state.py --turns 200 --rss-turns 2000 --burst 50          # quick
    python benchmarks/bounded_state.py --before-src /tmp/before/src      # the burst's "before" row on the old code

1. **Checkpoint bytes** of one thread after ``--turns`` (1,000) turns, split into messages and decisions, with
   ``decisions`` reduced by ``operator.add`` ("before": the state schema of the code before issue 25, reproduced
   in this script) and by ``task_router._task_graph.add_decisions`` ("after": ``RouterState``). The bytes are what
   LangGraph's savers write for a channel, ``JsonPlusSerializer().dumps_typed(value)`` (InMemorySaver and
   PostgresSaver write one such blob per channel version, SqliteSaver all of them in one blob per checkpoint);
   ``--sqlite`` also runs "after" through a real SqliteSaver and reports its latest checkpoint's blob.
2. **RSS** (``VmRSS``) every 1,000 turns over ``--rss-turns`` (10,000), before and after, each in a new process.
   The echo task keeps the last ``--keep-messages`` (40) messages (``RemoveMessage``, as a long-lived app trims
   its history), so that ``decisions`` is what grows; without it ``messages`` grows by ~2 messages a turn whatever
   the reducer of ``decisions``.
3. **Threads alive after a burst** of ``--burst`` (200) concurrent decisions: a fake router whose decision takes
   ``--decision-ms`` (50) ms (a model call), 200 threads calling ``router.invoke`` at once, then the threads named
   ``task-router-decision`` still alive, the most decisions running at once, the burst's wall time and the
   decisions' p50 / p95. "Before" runs the same child on the code of ``--before-src`` (a ``src`` folder of the
   code before; without it, the old rule is reproduced: a pool of 1,000,000 threads, a thread added whenever none
   is idle).

The fake router of 1 and 2 decides START then CONTINUE with a new 20,000-character raw output every turn
(``--raw-chars``: MAX_DECISION_TEXT, the most a decision keeps), 200 characters of rationale and 2 alternatives;
the tasks are echo nodes; no model. The thread's state is passed back into the graph at every turn (no
checkpointer): a saver keeps every checkpoint of a thread, which "before" makes quadratic (one thread of 1,000
turns: ~10 GB of decisions over its checkpoints), so the figures are those of the thread's latest checkpoint.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import operator
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, RemoveMessage
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph.message import add_messages

from task_router import RouteDecision, Task, TaskCatalog, create_router_graph

try:
    from task_router._task_graph import RouterState, merge_task_data
except ImportError:  # a --before-src child on older code: the state was in _state.py, and before the internal
    try:  # modules became private in state.py
        from task_router._state import RouterState, merge_task_data
    except ImportError:
        from task_router.state import RouterState, merge_task_data

TASKS = ["recap", "email", "post"]
SERDE = JsonPlusSerializer()


class BeforeState(TypedDict, total=False):
    """``RouterState`` before issue 25: ``decisions`` grows by a whole decision per turn."""

    messages: Annotated[list[AnyMessage], add_messages]
    active_task: str | None
    task_data: Annotated[dict[str, Any], merge_task_data]
    decisions: Annotated[list[dict[str, Any]], operator.add]


def catalog() -> TaskCatalog:
    return TaskCatalog([Task(name=name, description=f"Do the {name}.") for name in TASKS])


def fake_router(raw_chars: int) -> RunnableLambda:
    def decide(turn: dict[str, Any]) -> RouteDecision:
        n = len(turn["messages"])
        event = "CONTINUE" if turn.get("active_task") else "START"
        return RouteDecision(
            event=event, task="recap", confidence=0.9, router="fake", model="fake", latency_ms=1.0,
            raw_output=(f"turn {n}: " + "x" * raw_chars)[:raw_chars],  # a new string every turn, as a model's
            rationale=("because " + "y" * 200)[:200],
            alternatives=[{"event": event, "task": "recap", "probability": 0.9},
                          {"event": "SWITCH", "task": "email", "probability": 0.1}],
        )  # fmt: skip

    return RunnableLambda(decide)


def echo_tasks(keep: int) -> dict[str, Any]:
    def node(state: dict[str, Any]) -> dict[str, Any]:
        messages = state.get("messages") or []
        trimmed = [RemoveMessage(id=m.id) for m in messages[: max(0, len(messages) - keep + 1)]] if keep else []
        return {"messages": [*trimmed, AIMessage(f"[{state['active_task']}] ok")]}

    return {name: node for name in TASKS}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def blob_bytes(value: Any) -> int:
    return len(SERDE.dumps_typed(value)[1])


def run_thread(mode: str, turns: int, every: int, keep: int, raw_chars: int) -> list[dict[str, Any]]:
    """One thread of ``turns`` turns, its state passed back in each turn; a sample every ``every`` turns."""
    schema = BeforeState if mode == "before" else RouterState
    if mode == "before":  # the graph's nodes read their state type by name: theirs, in this process, is the old one
        import task_router._graph

        task_router._graph.RouterState = BeforeState  # type: ignore[misc]
    graph = create_router_graph(
        catalog(), router=fake_router(raw_chars), model=None, task_graphs=echo_tasks(keep), state_schema=schema
    ).compile()
    state: dict[str, Any] = {}
    gc.collect()
    samples = [{"turn": 0, "rss_mb": rss_mb(), "messages_bytes": 0, "decisions_bytes": 0, "decisions": 0}]
    started = time.perf_counter()
    for turn in range(1, turns + 1):
        state = graph.invoke({**state, "messages": [*state.get("messages", ()), HumanMessage(f"part {turn}")]})
        if turn % every == 0 or turn == turns:
            gc.collect()
            samples.append(
                {
                    "turn": turn,
                    "rss_mb": rss_mb(),
                    "messages_bytes": blob_bytes(state["messages"]),
                    "decisions_bytes": blob_bytes(state["decisions"]),
                    "decisions": len(state["decisions"]),
                    "messages": len(state["messages"]),
                    "compact": sum(d.get("raw_output") == "" for d in state["decisions"]),  # texts dropped
                    "seconds": time.perf_counter() - started,
                }
            )
    return samples


def run_sqlite(turns: int, raw_chars: int) -> dict[str, Any]:
    """ "After" through a real SqliteSaver (durability "exit": one checkpoint per turn): the latest blob's size."""
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "threads.sqlite"
        connection = sqlite3.connect(path, check_same_thread=False)
        saver = SqliteSaver(connection)
        graph = create_router_graph(
            catalog(), router=fake_router(raw_chars), model=None, task_graphs=echo_tasks(0)
        ).compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "long"}}
        started = time.perf_counter()
        for turn in range(1, turns + 1):
            graph.invoke({"messages": [HumanMessage(f"part {turn}")]}, config, durability="exit")
        seconds = time.perf_counter() - started
        values = saver.get_tuple(config).checkpoint["channel_values"]
        (latest,) = connection.execute(
            "SELECT length(checkpoint) FROM checkpoints WHERE thread_id = 'long' ORDER BY checkpoint_id DESC LIMIT 1"
        ).fetchone()
        connection.close()
        return {
            "turns": turns,
            "latest_checkpoint_bytes": latest,
            "decisions_bytes": blob_bytes(values["decisions"]),
            "messages_bytes": blob_bytes(values["messages"]),
            "file_bytes": path.stat().st_size,
            "seconds": seconds,
        }


def run_burst(callers: int, decision_ms: float, reproduce_unbounded: bool) -> dict[str, Any]:
    """``callers`` threads call a fake router's ``invoke`` at once; what is left afterwards."""
    from task_router.routers import Prediction, Router

    try:
        from task_router import _budget as budget
    except ImportError:  # a --before-src child on code from before the internal modules became private
        from task_router import budget

    if reproduce_unbounded:  # the rule before issue 25: a thread whenever none is idle, never given back
        os.environ["TASK_ROUTER_DECISION_THREADS"] = "1000000"
        budget._THREADS = budget._DecisionThreads()
    running, peak, lock = [0], [0], threading.Lock()

    class Slow(Router):
        kind = "slow"

        def predict(self, routing: Any, config: Any) -> Prediction:
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            time.sleep(decision_ms / 1000)  # a model call
            with lock:
                running[0] -= 1
            return Prediction("recap")

    tasks = catalog()
    router = Slow(catalog=tasks)
    router.invoke({"messages": ["warm up"]})  # one decision before: the pool has its first thread
    before = alive()
    gate = threading.Barrier(callers)
    latencies: list[float] = []

    def call(i: int) -> None:
        gate.wait()
        start = time.perf_counter()
        router.invoke({"messages": [f"recap the meeting {i}"]})
        with lock:
            latencies.append((time.perf_counter() - start) * 1000)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(callers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    size = getattr(budget._THREADS, "_max", None)
    return {
        "callers": callers, "alive_before": before, "alive_after": alive(), "peak_running": peak[0],
        "wall_s": wall, "p50_ms": statistics.median(latencies), "p95_ms": p95(latencies), "pool_size": size,
        "decisions": len(latencies),
    }  # fmt: skip


def alive() -> int:
    return sum(thread.name == "task-router-decision" for thread in threading.enumerate())


def p95(ordered: list[float]) -> float:
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def in_child(job: dict[str, Any], src: str | None = None) -> Any:
    """Run ``job`` in a new Python process (RSS starts afresh; ``src`` on PYTHONPATH first)."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(job)], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"child {job} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(job: dict[str, Any]) -> Any:
    kind = job.pop("kind")
    if kind == "thread":
        return run_thread(**job)
    if kind == "sqlite":
        return run_sqlite(**job)
    return run_burst(**job)


def kb(n: int) -> str:
    return f"{n / 1000:,.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:,.2f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=1000, help="turns of the checkpoint-bytes thread")
    parser.add_argument("--rss-turns", type=int, default=10_000, help="turns of the RSS thread")
    parser.add_argument("--every", type=int, default=1000, help="an RSS sample every N turns")
    parser.add_argument("--keep-messages", type=int, default=40, help="messages the RSS thread's echo task keeps")
    parser.add_argument("--raw-chars", type=int, default=20_000, help="characters of raw output per decision")
    parser.add_argument("--burst", type=int, default=200, help="concurrent decisions of the burst")
    parser.add_argument("--decision-ms", type=float, default=50.0, help="how long one burst decision takes")
    parser.add_argument("--before-src", help="a src/ folder of the code before, for the burst's 'before' row")
    parser.add_argument("--sqlite", action="store_true", help="also run 'after' through a real SqliteSaver")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return

    load = os.getloadavg()
    started = time.perf_counter()
    from task_router.models._cpu import cpu_description  # here: the --before-src children run older code

    print(f"machine: {cpu_description()}, Python {platform.python_version()}; "
          f"load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the start")  # fmt: skip

    print(f"\n1. One thread, {args.turns} turns, raw output {args.raw_chars:,} characters a decision: the latest "
          "checkpoint's channels (JsonPlusSerializer)\n")  # fmt: skip
    print("| decisions reducer | turns | messages | decisions (entries, compact) | messages bytes | decisions bytes "
          "| total |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for mode in ("before", "after"):
        job = {"kind": "thread", "mode": mode, "turns": args.turns, "every": args.turns, "keep": 0}
        last = in_child({**job, "raw_chars": args.raw_chars})[-1]
        reducer = "operator.add (before)" if mode == "before" else "add_decisions (after)"
        total = last["messages_bytes"] + last["decisions_bytes"]
        print(f"| {reducer} | {last['turn']} | {last['messages']} | {last['decisions']}, {last['compact']} | "
              f"{kb(last['messages_bytes'])} | {kb(last['decisions_bytes'])} | {kb(total)} |")  # fmt: skip
    if args.sqlite:
        real = in_child({"kind": "sqlite", "turns": args.turns, "raw_chars": args.raw_chars})
        print(f"\nSqliteSaver, after, {real['turns']} turns (durability 'exit'): latest checkpoint blob "
              f"{kb(real['latest_checkpoint_bytes'])} (decisions {kb(real['decisions_bytes'])}, messages "
              f"{kb(real['messages_bytes'])}); the file, every checkpoint: {kb(real['file_bytes'])}; "
              f"{real['seconds']:.0f} s")  # fmt: skip

    print(f"\n2. RSS of one thread over {args.rss_turns:,} turns (the echo task keeps the last {args.keep_messages} "
          "messages), each reducer in a new process\n")  # fmt: skip
    runs = {}
    for mode in ("before", "after"):
        job = {"kind": "thread", "mode": mode, "turns": args.rss_turns, "every": args.every}
        runs[mode] = in_child({**job, "keep": args.keep_messages, "raw_chars": args.raw_chars})
    print("| turns | RSS before (MB) | RSS after (MB) | decisions bytes before | decisions bytes after |")
    print("|---|---|---|---|---|")
    for old, new in zip(runs["before"], runs["after"], strict=True):
        print(f"| {old['turn']:,} | {old['rss_mb']:.1f} | {new['rss_mb']:.1f} | {kb(old['decisions_bytes'])} | "
              f"{kb(new['decisions_bytes'])} |")  # fmt: skip
    print(f"\nwall: before {runs['before'][-1]['seconds']:.0f} s, after {runs['after'][-1]['seconds']:.0f} s")

    print(f"\n3. A burst of {args.burst} concurrent decisions of {args.decision_ms:g} ms each\n")
    print("| code | pool size | decision threads alive before / after | most running at once | wall s | p50 ms "
          "| p95 ms |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    burst = {"kind": "burst", "callers": args.burst, "decision_ms": args.decision_ms}
    rows = [
        ("before", in_child({**burst, "reproduce_unbounded": not args.before_src}, args.before_src)),
        ("after", in_child({**burst, "reproduce_unbounded": False})),
    ]
    for name, row in rows:
        label = name if name == "after" or args.before_src else "before (reproduced: unbounded)"
        size = "unbounded" if row["pool_size"] is None or row["pool_size"] >= 1_000_000 else row["pool_size"]
        print(f"| {label} | {size} | {row['alive_before']} / **{row['alive_after']}** | "
              f"{row['peak_running']} | {row['wall_s']:.2f} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} |")  # fmt: skip
    load = os.getloadavg()
    print(f"\nload average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} at the end; "
          f"{time.perf_counter() - started:.0f} s in all")  # fmt: skip


if __name__ == "__main__":
    main()
