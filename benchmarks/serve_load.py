"""Scale-out, measured: examples/serve.py under uvicorn with 1 and then 2 worker processes on one PostgreSQL, N
concurrent conversations x 4 turns over HTTP; decisions per second, p50 / p95 of a turn (issue 25, item 5).

    python benchmarks/serve_load.py                         # learned router, 64 conversations, 1 and 2 workers
    python benchmarks/serve_load.py --conversations 16 --workers 1 2

The task replies come from the loopback fault server (no model generates text), so a turn is: the HTTP request,
the learned router's decision, the generic task node's call to the fake server, two checkpoints in PostgreSQL.
PostgreSQL is the throwaway one of scripts/start_postgres.sh. Each worker gets ``torch`` threads = cores / workers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from task_router.models._cpu import cpu_description

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the loopback fault server is a test fixture
from tests.fault_server import FaultServer, keyword_reply
from tests.serving import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["write a linkedin post about launch {n}", "make it shorter, {n}", "now recap my meeting {n}", "add owners {n}"]


async def _traffic(base: str, conversations: int, run: str) -> tuple[list[float], float, int]:
    async with httpx.AsyncClient(base_url=base, timeout=300) as client:
        await wait_until_serving(client, "/catalog", timeout_s=300)  # every worker loads the app first
        for i in range(4):  # every worker loads and warms its router before the clock starts
            await client.post(f"/threads/warm-{run}-{i}/turns", json={"message": "hello"})
        latencies: list[float] = []
        workers: set[int] = set()

        async def conversation(i: int) -> None:
            for t, text in enumerate(TEXTS):
                started = time.perf_counter()
                reply = await client.post(f"/threads/{run}-{i}/turns", json={"message": text.format(n=f"{i}-{t}")})
                reply.raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)
                workers.add(reply.json()["worker"])

        started = time.perf_counter()
        await asyncio.gather(*(conversation(i) for i in range(conversations)))
        return latencies, time.perf_counter() - started, len(workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--conversations", type=int, default=64)
    parser.add_argument("--router", default="learned")
    args = parser.parse_args()
    url = subprocess.run(
        ["bash", str(ROOT / "scripts" / "start_postgres.sh")], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    rows = []
    with FaultServer("ok", reply=keyword_reply({"linkedin": "linkedin_post", "recap": "meeting_recap"})) as fake:
        for workers in args.workers:
            port, run = free_port(), uuid.uuid4().hex[:8]
            env = {
                **os.environ,
                "PYTHONPATH": str(ROOT),
                "TASK_ROUTER_POSTGRES": url,
                "TASK_ROUTER_ROUTER": args.router,
                "TASK_ROUTER_MODEL": "openai:fake",
                "OPENAI_BASE_URL": fake.base_url,
                "OPENAI_API_KEY": "unused",
                "TASK_ROUTER_CATALOG_NAMESPACE": f"bench-{run}/catalog",
                "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // workers)),
            }
            command = [sys.executable, "-m", "uvicorn", "examples.serve:app", "--workers", str(workers)]
            server = subprocess.Popen(
                [*command, "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
            )
            try:
                latencies, wall, served = asyncio.run(_traffic(f"http://127.0.0.1:{port}", args.conversations, run))
            finally:
                server.terminate()
                server.wait(timeout=60)
            latencies.sort()
            rows.append(
                (
                    workers,
                    served,
                    len(latencies) / wall,
                    statistics.median(latencies),
                    latencies[int(0.95 * (len(latencies) - 1))],
                )
            )
            print(rows[-1], flush=True)
    print(
        f"\n{cpu_description()}; router {args.router}; {args.conversations} conversations x 4 turns; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print("| workers | workers that served | decisions/s | p50 ms | p95 ms |\n|---|---|---|---|---|")
    for workers, served, rate, p50, p95 in rows:
        print(f"| {workers} | {served} | {rate:.1f} | {p50:.0f} | {p95:.0f} |")
    if len(rows) >= 2:
        print(f"\n{rows[-1][0]} workers / {rows[0][0]}: {rows[-1][2] / rows[0][2]:.2f}x")


if __name__ == "__main__":
    main()
