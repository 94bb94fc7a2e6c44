"""Bounded resources (issue 25, item 2): one thread's checkpoint after N turns, RSS along a long thread, and the
threads left alive after a burst of concurrent decisions.

    python benchmarks/bounded_state.py                       # this checkout
    PYTHONPATH=/path/to/old/src python benchmarks/bounded_state.py   # before rows, from an older checkout

The router is a stand-in returning a decision with 20,000-character raw output and rationale (the most a decision
keeps) and the tasks echo "ok", so no model runs and the figures are the state's and the pool's. The thread is
saved in SQLite (a temporary file) with durability "sync", as `task-router chat` runs it. Checkpoint bytes are
the latest checkpoint's channel values serialized by LangGraph's own serializer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from task_router import TaskCatalog, create_router_graph
from task_router.decision import RouteDecision

BIG = "x" * 20_000


def decide(payload: dict[str, Any]) -> RouteDecision:
    event = "CONTINUE" if payload.get("active_task") else "START"
    return RouteDecision(event=event, task="linkedin_post", router="stand-in", raw_output=BIG, rationale=BIG)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def thread_run(turns: int, every: int) -> None:
    from langgraph.checkpoint.sqlite import SqliteSaver

    catalog = TaskCatalog.demo()
    echo = {name: (lambda state: {"messages": [("ai", "ok")]}) for name in catalog.names}
    graph = create_router_graph(catalog, router=RunnableLambda(decide), model=None, task_graphs=echo)
    serde = JsonPlusSerializer()
    with tempfile.TemporaryDirectory() as folder, SqliteSaver.from_conn_string(str(Path(folder) / "t.db")) as saver:
        app = graph.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "long"}}
        started = time.perf_counter()
        print("| turns | decisions bytes | messages bytes | RSS MiB | s so far |\n|---|---|---|---|---|")
        for turn in range(1, turns + 1):
            app.invoke({"messages": [("user", f"turn {turn}")]}, config, durability="sync")
            if turn % every == 0:
                values = saver.get_tuple(config).checkpoint["channel_values"]
                decisions = len(serde.dumps_typed(values.get("decisions", []))[1])
                messages = len(serde.dumps_typed(values.get("messages", []))[1])
                elapsed = time.perf_counter() - started
                print(f"| {turn} | {decisions:,} | {messages:,} | {rss_mib():.0f} | {elapsed:.0f} |", flush=True)


def burst(n: int) -> int:
    """Threads named task-router-decision alive after ``n`` concurrent decisions of a local stand-in."""
    from task_router.routers.base import Prediction, Router

    class Slow(Router):
        kind = "stand-in"

        def predict(self, routing: Any, config: Any) -> Prediction:
            time.sleep(0.05)
            return Prediction("linkedin_post")

    router, catalog = Slow(), TaskCatalog.demo()

    async def main() -> None:
        await asyncio.gather(*(router.ainvoke({"messages": ["a post"], "catalog": catalog}) for _ in range(n)))

    callers = [threading.Thread(target=lambda: asyncio.run(main())) for _ in range(1)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    sync_callers = [
        threading.Thread(target=router.invoke, args=({"messages": ["a post"], "catalog": catalog},)) for _ in range(n)
    ]
    for caller in sync_callers:
        caller.start()
    for caller in sync_callers:
        caller.join()
    return sum(1 for t in threading.enumerate() if t.name == "task-router-decision")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--every", type=int, default=250)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--burst-only", action="store_true")
    args = parser.parse_args()
    import task_router.state

    reducer = "add_decisions" if hasattr(task_router.state, "add_decisions") else "operator.add (whole decisions)"
    print(f"load {os.getloadavg()[0]:.2f}, decisions reducer: {reducer}")
    if not args.burst_only:
        thread_run(args.turns, args.every)
    alive = burst(args.burst)
    print(f"\ndecision threads alive after {args.burst} async then {args.burst} sync concurrent decisions: {alive}")


if __name__ == "__main__":
    main()
