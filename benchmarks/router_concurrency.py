"""A router alone under concurrency: decisions per second of ``router.ainvoke`` with 1 / 16 / 64 decisions in flight
on one event loop, against one sync decision at a time (no graph, so the figures are the router's own).

    python benchmarks/router_concurrency.py                 # the learned router, demo catalogue
    python benchmarks/router_concurrency.py --router embedding
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

from task_router import TaskCatalog, make_router


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--router", default="learned")
    parser.add_argument("--levels", type=int, nargs="*", default=[1, 16, 64])
    parser.add_argument("--decisions", type=int, default=256)
    args = parser.parse_args()
    router = make_router(args.router, model=None) if args.router == "embedding" else make_router(args.router)
    catalog = TaskCatalog.demo()
    router.warm(catalog)
    texts = [f"Draft a linkedin post about launch {i}" for i in range(512)]
    turns = [{"messages": [("user", text)], "catalog": catalog} for text in texts]
    print(f"router {args.router}, load {os.getloadavg()[0]:.2f}")
    print("| in flight | async decisions/s | sync one at a time, decisions/s |\n|---|---|---|")
    for level in args.levels:

        async def run(level: int = level) -> float:
            gate = asyncio.Semaphore(level)

            async def one(turn: dict) -> None:
                async with gate:
                    await router.ainvoke(turn)

            started = time.perf_counter()
            await asyncio.gather(*(one(turn) for turn in turns[: args.decisions]))
            return time.perf_counter() - started

        wall = asyncio.run(run())
        started = time.perf_counter()
        for turn in turns[args.decisions : args.decisions + 64]:
            router.invoke(turn)
        sync_rate = 64 / (time.perf_counter() - started)
        print(f"| {level} | {args.decisions / wall:.0f} | {sync_rate:.0f} |", flush=True)


if __name__ == "__main__":
    main()
