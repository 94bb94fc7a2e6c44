"""Decisions in forked children (issue 24, item 3): fork after the parent decided, then decide in every child.

    python benchmarks/forked_workers.py                                  # 8 children x 100 decisions, embedding
    python benchmarks/forked_workers.py --children 2 --decisions 5 --budget 1   # quick (and the "before" check)
    python benchmarks/forked_workers.py --parent-concurrency 4   # the parent decided 4 turns at once before forking

What pre-fork servers do (gunicorn / uvicorn workers, ``multiprocessing`` with "fork"): the parent loads the router
and decides once (warm-up), then ``os.fork()`` makes the workers, which decide at the same time. Each child counts
its decisions, the ones that raised ``DecisionTimeout`` (a time-out at the budget: what every decision did before the
decision threads were reset at fork) and other errors, and reports them through a pipe; the table adds them up.
The router is called directly (not through ``make_reliable``), so that a time-out is counted rather than hidden by
a fallback stage. Loopback only: no server, no network; the run stops by itself.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from task_router import TaskCatalog, make_router
from task_router._budget import DecisionTimeout
from task_router.models._cpu import cpu_description

TURNS = [
    "Draft a linkedin post about launch {n}",
    "Now recap my meeting number {n}",
    "Write a follow-up email to Dana about item {n}",
    "What is the weather on Mars today {n}",
]


def child(router: Any, catalog: TaskCatalog, index: int, decisions: int) -> dict[str, Any]:
    latencies: list[float] = []
    timeouts = errors = 0
    first_error = None
    for n in range(decisions):
        text = TURNS[n % len(TURNS)].format(n=f"{index}-{n}")  # a new text every time: no memoised query
        start = time.perf_counter()
        try:
            router.invoke({"messages": [text], "catalog": catalog})
        except DecisionTimeout:
            timeouts += 1
            continue
        except Exception as exc:
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"
            continue
        latencies.append((time.perf_counter() - start) * 1000)
    return {"child": index, "decisions": decisions, "timeouts": timeouts, "errors": errors, "ms": latencies,
            "first_error": first_error}  # fmt: skip


def fork_children(router: Any, catalog: TaskCatalog, children: int, decisions: int) -> list[dict[str, Any]]:
    running = []
    for index in range(children):
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report, then leave without running the parent's clean-up
            code = 1
            try:
                os.close(read)
                report = child(router, catalog, index, decisions)
                with os.fdopen(write, "w") as out:
                    json.dump(report, out)
                code = 0
            finally:
                os._exit(code)
        os.close(write)
        running.append((pid, read))
    reports = []
    for pid, read in running:
        with os.fdopen(read) as pipe:
            text = pipe.read()
        _, status = os.waitpid(pid, 0)
        report = json.loads(text) if text else {"child": len(reports), "decisions": decisions, "ms": []}
        report["exit"] = os.waitstatus_to_exitcode(status)
        reports.append(report)
    return reports


def p95_of(ordered: list[float]) -> float:
    """The 95th percentile of sorted values, nearest rank."""
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--children", type=int, default=8)
    parser.add_argument("--decisions", type=int, default=100, help="decisions per child")
    parser.add_argument("--budget", type=float, default=10.0, help="each decision's time budget, in seconds")
    parser.add_argument("--router", default="embedding", choices=["embedding", "learned"])
    parser.add_argument(
        "--parent-concurrency", type=int, default=1, help="decisions the parent makes at once before forking"
    )
    args = parser.parse_args()

    catalog = TaskCatalog.demo()
    router = make_router(args.router, model=None, timeout_s=args.budget)
    router.warm(catalog)
    turn = {"messages": ["Draft a linkedin post about our launch"], "catalog": catalog}
    with ThreadPoolExecutor(max_workers=args.parent_concurrency) as pool:  # one decision thread each, left idle
        parent = list(pool.map(router.invoke, [turn] * args.parent_concurrency))[-1]
    load_before = os.getloadavg()
    started = time.perf_counter()
    reports = fork_children(router, catalog, args.children, args.decisions)
    wall = time.perf_counter() - started
    load_after = os.getloadavg()

    print(f"{args.router} router, time budget {args.budget:g} s; the parent decided {args.parent_concurrency} "
          f"turn(s) at once ({parent.event} {parent.task}, {parent.latency_ms:.0f} ms), then forked "
          f"{args.children} children x {args.decisions} decisions, all children at once")  # fmt: skip
    print(f"machine: {cpu_description()}, Python {platform.python_version()}; load average "
          f"(1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after; wall {wall:.1f} s")  # fmt: skip
    print()
    print("| child | exit | decisions | time-outs | other errors | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|")
    every: list[float] = []
    for report in reports:
        ms = sorted(report["ms"])
        every += ms
        p50 = f"{statistics.median(ms):.1f}" if ms else "-"
        p95 = f"{p95_of(ms):.1f}" if ms else "-"
        print(f"| {report['child']} | {report['exit']} | {report['decisions']} | {report.get('timeouts', '?')} | "
              f"{report.get('errors', '?')} | {p50} | {p95} |")  # fmt: skip
    every.sort()
    total = sum(r["decisions"] for r in reports)
    timeouts = sum(r.get("timeouts", 0) for r in reports)
    errors = sum(r.get("errors", 0) for r in reports)
    p50 = f"{statistics.median(every):.1f}" if every else "-"
    p95 = f"{p95_of(every):.1f}" if every else "-"
    print(f"| **all** | | {total} | **{timeouts}** | {errors} | {p50} | {p95} |")
    for report in reports:
        if report.get("first_error"):
            print(f"child {report['child']}: {report['first_error']}")


if __name__ == "__main__":
    main()
