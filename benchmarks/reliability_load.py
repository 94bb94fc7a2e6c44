"""Bounded load test, loopback only: decisions per second and latency at 1 / 4 / 16 concurrent conversations.

    nice -n 10 python benchmarks/reliability_load.py                      # structured router -> local fake server
    nice -n 10 python benchmarks/reliability_load.py --router embedding   # in-process embedding router, no server
    python benchmarks/reliability_load.py --router learned --threads 1    # the default offline router, 1 torch thread

The "model" is the fault server on 127.0.0.1 answering after ``--delay`` seconds (a stand-in for a remote
model), so the figures measure the router, the graph and the HTTP client under concurrency, not a model.
Every conversation runs ``--turns`` turns on one compiled graph (InMemorySaver); the run stops by itself.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from task_router import TaskCatalog, create_router_graph, make_router
from task_router.reliability import FaultServer, keyword_reply, make_reliable_router

KEYWORDS = {"linkedin": "linkedin_post", "recap": "meeting_recap", "email": "follow_up_email"}
# {n}: every turn of every conversation is a new text, so encoder routers embed each one (no memoised query).
TURNS = [
    "Draft a linkedin post about launch {n}",
    "linkedin: make it shorter for team {n}",
    "Now recap my meeting number {n}",
    "recap: add the owners of item {n}",
]


def run_level(graph: Any, concurrency: int, conversations: int, turns: int) -> dict[str, Any]:
    latencies: list[float] = []
    lost = 0

    def conversation(i: int) -> tuple[list[float], int]:
        config = {"configurable": {"thread_id": f"load-{concurrency}-{i}"}}
        own: list[float] = []
        for t in range(turns):
            start = time.perf_counter()
            text = TURNS[t % len(TURNS)].format(n=f"{concurrency}-{i}-{t}")
            state = graph.invoke({"messages": [("user", text)]}, config)
            own.append((time.perf_counter() - start) * 1000)
        missing = turns - len(state["decisions"])
        return own, missing

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for own, missing in pool.map(conversation, range(conversations)):
            latencies += own
            lost += missing
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "concurrency": concurrency,
        "decisions": len(latencies),
        "turns_lost": lost,
        "decisions_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", default="structured", choices=["structured", "embedding", "learned"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--levels", type=int, nargs="*", default=[1, 4, 16])
    parser.add_argument("--conversations", type=int, default=32, help="conversations per level")
    parser.add_argument("--turns", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.05, help="fake model latency, seconds")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    catalog = TaskCatalog.demo()
    echo = {name: (lambda state: {"messages": [("ai", "ok")]}) for name in catalog.names}
    rows = []
    with FaultServer("ok", reply=keyword_reply(KEYWORDS), delay_s=args.delay) as server:
        if args.router in ("embedding", "learned"):
            router = make_router(args.router, model=None)
        else:
            router = make_reliable_router("structured", model="openai:fake", base_url=server.base_url, timeout_s=30)
        graph = create_router_graph(catalog, router=router, model=None, task_graphs=echo).compile(
            checkpointer=InMemorySaver()
        )
        graph.invoke({"messages": [("user", "warm up")]}, {"configurable": {"thread_id": "warm-up"}})
        for level in args.levels:
            rows.append(run_level(graph, level, max(level, args.conversations), args.turns))
            print(json.dumps(rows[-1]), flush=True)
    model = "none" if args.router in ("embedding", "learned") else f"fake server, {args.delay * 1000:.0f} ms"
    threads: object = "-"
    if args.router in ("embedding", "learned"):
        import torch

        threads = torch.get_num_threads()
    print(f"\n{date.today()} · {platform.machine()} · router {args.router} · model {model} · torch threads {threads}")
    print("| concurrent conversations | decisions | turns lost | decisions/s | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['concurrency']} | {r['decisions']} | {r['turns_lost']} | {r['decisions_per_s']} | "
            f"{r['p50_ms']} | {r['p95_ms']} |"
        )


if __name__ == "__main__":
    main()
