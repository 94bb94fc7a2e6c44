"""Bounded load test, loopback only: decisions per second and latency at 1 / 4 / 16 concurrent conversations.

    nice -n 10 python benchmarks/reliability_load.py                      # structured router -> local fake server
    nice -n 10 python benchmarks/reliability_load.py --router embedding   # in-process embedding router, no server
    python benchmarks/reliability_load.py --router learned --threads 1    # the default offline router, 1 torch thread
    python benchmarks/reliability_load.py --mode async --levels 1 16 64   # graph.ainvoke, conversations as tasks

The "model" is the fault server on 127.0.0.1 answering after ``--delay`` seconds (a stand-in for a remote
model), so the figures measure the router, the graph and the HTTP client under concurrency, not a model.
Every conversation runs ``--turns`` turns on one compiled graph (InMemorySaver); the run stops by itself.
``--mode sync`` runs each conversation in an OS thread (``graph.invoke``), ``--mode async`` as an asyncio task
(``graph.ainvoke``) on one event loop. ``threads`` is the most threads alive at once during a level (sampled every
10 ms), the fault server's own (one per request) not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver

from task_router import TaskCatalog, create_router_graph, make_router
from task_router.reliability import make_reliable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the loopback fault server is a test fixture
from tests.fault_server import FaultServer, keyword_reply

KEYWORDS = {"linkedin": "linkedin_post", "recap": "meeting_recap", "email": "follow_up_email"}
# {n}: every turn of every conversation is a new text, so encoder routers embed each one (no memoised query).
TURNS = [
    "Draft a linkedin post about launch {n}",
    "linkedin: make it shorter for team {n}",
    "Now recap my meeting number {n}",
    "recap: add the owners of item {n}",
]


def _text(concurrency: int, i: int, t: int) -> str:
    return TURNS[t % len(TURNS)].format(n=f"{concurrency}-{i}-{t}")


def _own_threads(*skip: threading.Thread) -> int:
    """Threads alive, without the fault server's (one per request, by design) and ``skip``."""
    return sum(
        1
        for t in threading.enumerate()
        if t not in skip and t.name != "fault-server" and "process_request" not in t.name
    )


class ThreadPeak:
    """The most threads alive at once while the block runs (sampled every 10 ms)."""

    def __enter__(self) -> ThreadPeak:
        self.peak, self._stop = _own_threads(), threading.Event()
        self._sampler = threading.Thread(target=self._sample, name="thread-peak", daemon=True)
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _own_threads(self._sampler))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._sampler.join()


def _summary(concurrency: int, latencies: list[float], lost: int, wall: float, threads: int) -> dict[str, Any]:
    latencies.sort()
    return {
        "concurrency": concurrency,
        "decisions": len(latencies),
        "turns_lost": lost,
        "decisions_per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "threads": threads,
    }


def run_level_async(graph: Any, concurrency: int, conversations: int, turns: int) -> dict[str, Any]:
    async def level() -> tuple[list[float], int]:
        gate = asyncio.Semaphore(concurrency)

        async def conversation(i: int) -> tuple[list[float], int]:
            async with gate:
                config = {"configurable": {"thread_id": f"aload-{concurrency}-{i}"}}
                own: list[float] = []
                for t in range(turns):
                    start = time.perf_counter()
                    state = await graph.ainvoke({"messages": [("user", _text(concurrency, i, t))]}, config)
                    own.append((time.perf_counter() - start) * 1000)
                return own, turns - len(state["decisions"])

        done = await asyncio.gather(*(conversation(i) for i in range(conversations)))
        return [x for own, _ in done for x in own], sum(missing for _, missing in done)

    with ThreadPeak() as peak:
        started = time.perf_counter()
        latencies, lost = asyncio.run(level())
        wall = time.perf_counter() - started
    return _summary(concurrency, latencies, lost, wall, peak.peak)


def run_level(graph: Any, concurrency: int, conversations: int, turns: int) -> dict[str, Any]:
    latencies: list[float] = []
    lost = 0

    def conversation(i: int) -> tuple[list[float], int]:
        config = {"configurable": {"thread_id": f"load-{concurrency}-{i}"}}
        own: list[float] = []
        for t in range(turns):
            start = time.perf_counter()
            state = graph.invoke({"messages": [("user", _text(concurrency, i, t))]}, config)
            own.append((time.perf_counter() - start) * 1000)
        missing = turns - len(state["decisions"])
        return own, missing

    with ThreadPeak() as peak:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for own, missing in pool.map(conversation, range(conversations)):
                latencies += own
                lost += missing
        wall = time.perf_counter() - started
    return _summary(concurrency, latencies, lost, wall, peak.peak)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", default="structured", choices=["structured", "embedding", "learned"])
    parser.add_argument("--mode", choices=["sync", "async"], default="sync")
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
            primary = make_router("structured", model="openai:fake", base_url=server.base_url, timeout_s=30)
            router = make_reliable(primary)
        graph = create_router_graph(catalog, router=router, model=None, task_graphs=echo).compile(
            checkpointer=InMemorySaver()
        )
        graph.invoke({"messages": [("user", "warm up")]}, {"configurable": {"thread_id": "warm-up"}})
        for level in args.levels:
            run = run_level_async if args.mode == "async" else run_level
            rows.append(run(graph, level, max(level, args.conversations), args.turns))
            print(json.dumps(rows[-1]), flush=True)
    model = "none" if args.router in ("embedding", "learned") else f"fake server, {args.delay * 1000:.0f} ms"
    threads: object = "-"
    if args.router in ("embedding", "learned"):
        import torch

        threads = torch.get_num_threads()
    print(
        f"\n{date.today()} · {platform.machine()} · {cpu_name()} · router {args.router} · model {model} · "
        f"torch threads {threads} · mode {args.mode} · load {os.getloadavg()[0]:.2f}"
    )
    print("| concurrent conversations | decisions | turns lost | decisions/s | p50 ms | p95 ms | threads |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['concurrency']} | {r['decisions']} | {r['turns_lost']} | {r['decisions_per_s']} | "
            f"{r['p50_ms']} | {r['p95_ms']} | {r['threads']} |"
        )


def cpu_name() -> str:
    try:
        from task_router.models._cpu import cpu_description
    except ImportError:  # an older checkout, for its before rows
        import torch

        return f"{platform.processor() or 'cpu'}, {torch.backends.cpu.get_cpu_capability()}"
    return cpu_description()


if __name__ == "__main__":
    main()
