"""Naive `generate` vs the optimized scoring path, on the same synthetic prompts (`task-router bench`).

The prompts come from deterministic synthetic catalogues and conversations (:func:`synthetic_catalog`,
:func:`synthetic_conversation`), for speed benchmarks only (never benchmark records).
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from task_router._budget import call_within
from task_router._catalog import Task, TaskCatalog
from task_router._router_input import RoutingInput
from task_router.models._cpu import cpu_description

FULL_GRID = [(tasks, turns) for tasks in (10, 30, 150) for turns in (2, 8, 20)]
QUICK_GRID = [(10, 8)]


@dataclass
class BenchRow:
    """One line of ``bench.json`` (docs/contract.md)."""

    model: str
    router: str
    tasks: int
    turns: int
    path: str  # "naive" | "optimized"
    p50_ms: float
    p95_ms: float
    peak_rss_mb: float
    n: int

    # CPU time of the whole process per decision (all torch threads), kept out of bench.json: on a shared machine
    # it shows the work done independently of how long other processes held the cores.
    cpu_p50_ms: float | None = None
    # Optimized path: wall time of prefilling the assistant's reply between decisions (off the decision's path).
    prefill_p50_ms: float | None = None


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: the process peak so far
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextmanager
def peak_rss() -> Iterator[Callable[[], float]]:
    """Sample the resident set size every 20 ms while the block runs; yields a getter of the peak (MiB)."""
    peak = [_rss_mb()]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], _rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield lambda: peak[0]
    finally:
        stop.set()
        sampler.join()
        peak[0] = max(peak[0], _rss_mb())


def conditions() -> dict[str, Any]:
    import torch

    return {
        "cpu": cpu_description(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


DEFAULT_ROUTER_TASKS = 30


def time_router(router: Any, *, tasks: int = DEFAULT_ROUTER_TASKS, conversations: int = 3, turns: int = 8) -> BenchRow:
    """p50 / p95 of one decision of ``router`` (any kind) over synthetic conversations at ``tasks`` tasks, each
    turn routed with the router's own previous decision as the active task; warmed up first, so that loading and
    embedding the catalogue are not counted."""
    catalog = synthetic_catalog(tasks)
    call_within(router.warm, catalog, timeout=None)
    router.invoke({"messages": synthetic_conversation(catalog, 1, seed=999), "catalog": catalog})
    latencies: list[float] = []
    with peak_rss() as peak:
        for c in range(conversations):
            messages = synthetic_conversation(catalog, turns, seed=c)
            active = None
            for i in (i for i, m in enumerate(messages) if m.type == "human"):
                start = time.perf_counter()
                decision = router.invoke({"messages": messages[: i + 1], "active_task": active, "catalog": catalog})
                latencies.append((time.perf_counter() - start) * 1000)
                active = decision.active_task_after
    row = _row(router.model_label or "none", tasks, turns, "default", latencies, peak(), [])
    row.router = router.kind
    return row


def run_bench(
    router: Any,
    *,
    grid: Sequence[tuple[int, int]] = FULL_GRID,
    conversations: int = 3,
    naive_samples: int = 8,
    model_label: str = "embedded",
    prefill: bool = True,
    log: Callable[[str], None] = lambda _: None,
) -> list[BenchRow]:
    """For each (tasks, turns): replay ``conversations`` synthetic conversations turn by turn through the scoring
    router with a thread id (the optimized path: cached catalogue + thread KV, one-pass scoring), timing every
    decision; then time greedy ``generate`` on the full prompt for up to ``naive_samples`` of the same decisions
    (the naive path; evenly spread over the turns, always including the last).

    ``prefill=True`` does what the graph does: once the assistant has replied, ``router.prefill`` adds the reply to
    the thread's cache before the user's next turn (timed apart, as ``prefill_p50_ms``), so a decision runs only
    the user's turn, the question and the answers."""
    import torch

    engine = router.engine
    model, tokenizer = router.local.model, router.local.tokenizer
    rows: list[BenchRow] = []
    for n_tasks, n_turns in grid:
        catalog = synthetic_catalog(n_tasks)
        router.catalog = catalog
        answer_tokens = max(len(ids) for ids in router._answers(catalog)[1])
        # Warm-up (once per catalogue version, not per decision): catalogue prefix KV cache and calibration prior.
        router.invoke({"messages": synthetic_conversation(catalog, 1, seed=999)}, {"configurable": {"thread_id": "w"}})
        inputs: list[RoutingInput] = []
        latencies: list[float] = []
        cpu_ms: list[float] = []
        prefill_ms: list[float] = []
        with peak_rss() as peak:
            for c in range(conversations):
                messages = synthetic_conversation(catalog, n_turns, seed=c)
                config = {"configurable": {"thread_id": f"bench-{n_tasks}-{n_turns}-{c}"}}
                active = None
                user_turns = [i for i, m in enumerate(messages) if m.type == "human"]
                for i in user_turns:
                    if prefill and i:
                        start = time.perf_counter()
                        call_within(router.prefill, {"messages": messages[:i]}, config, timeout=None)
                        prefill_ms.append((time.perf_counter() - start) * 1000)
                    turn = {"messages": messages[: i + 1], "active_task": active}
                    cpu = time.process_time()
                    decision = router.invoke(turn, config)
                    cpu_ms.append((time.process_time() - cpu) * 1000)
                    latencies.append(decision.latency_ms)
                    inputs.append(RoutingInput(tuple(messages[: i + 1]), active, catalog))
                    active = decision.active_task_after
            optimized_peak = peak()
        rows.append(_row(model_label, n_tasks, n_turns, "optimized", latencies, optimized_peak, cpu_ms))
        rows[-1].prefill_p50_ms = round(statistics.median(prefill_ms), 1) if prefill_ms else None
        log(f"{n_tasks} tasks x {n_turns} turns: optimized p50 {rows[-1].p50_ms:.0f} ms (n={len(latencies)})")
        picks = sorted({round(k * (len(inputs) - 1) / max(1, naive_samples - 1)) for k in range(naive_samples)})
        naive: list[float] = []
        naive_cpu: list[float] = []

        @torch.inference_mode()
        def generate(ids: torch.Tensor, answer_tokens: int) -> Any:
            return model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=answer_tokens + 1,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )

        with peak_rss() as peak:
            for k in picks:
                routing = inputs[k]
                ids = torch.tensor([engine.prompt_ids(catalog, routing.messages, routing.active_task)])
                start, cpu = time.perf_counter(), time.process_time()
                call_within(
                    generate, ids, answer_tokens, timeout=None
                )  # on the decisions' thread, as the optimized path
                naive.append((time.perf_counter() - start) * 1000)
                naive_cpu.append((time.process_time() - cpu) * 1000)
            naive_peak = peak()
        rows.append(_row(model_label, n_tasks, n_turns, "naive", naive, naive_peak, naive_cpu))
        log(f"{n_tasks} tasks x {n_turns} turns: naive p50 {rows[-1].p50_ms:.0f} ms (n={len(naive)})")
    return rows


def _row(
    model: str, tasks: int, turns: int, path: str, values: list[float], peak_mb: float, cpu_ms: list[float]
) -> BenchRow:
    row = BenchRow(
        model=model,
        router="scoring",
        tasks=tasks,
        turns=turns,
        path=path,
        p50_ms=round(statistics.median(values), 1),
        p95_ms=round(percentile(values, 0.95), 1),
        peak_rss_mb=round(peak_mb, 1),
        n=len(values),
    )
    row.cpu_p50_ms = round(statistics.median(cpu_ms), 1) if cpu_ms else None
    return row


def speedups(rows: Sequence[BenchRow]) -> dict[tuple[int, int], float]:
    """naive p50 / optimized p50 per (tasks, turns)."""
    by_key = {(r.tasks, r.turns, r.path): r for r in rows}
    out = {}
    for tasks, turns, path in by_key:
        if path == "optimized" and (tasks, turns, "naive") in by_key:
            out[(tasks, turns)] = by_key[(tasks, turns, "naive")].p50_ms / by_key[(tasks, turns, "optimized")].p50_ms
    return out


def markdown_table(rows: Sequence[BenchRow]) -> str:
    ratio = speedups(rows)
    lines = [
        "| tasks | turns | naive p50 / p95 ms (n) | optimized p50 / p95 ms (n) | speed-up (p50) "
        "| CPU ms p50 naive / opt | peak RSS MiB naive / opt | reply prefill p50 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_key = {(r.tasks, r.turns, r.path): r for r in rows}
    for tasks, turns in sorted(ratio):
        n, o = by_key[(tasks, turns, "naive")], by_key[(tasks, turns, "optimized")]
        lines.append(
            f"| {tasks} | {turns} | {n.p50_ms:.0f} / {n.p95_ms:.0f} ({n.n}) | {o.p50_ms:.0f} / {o.p95_ms:.0f} ({o.n}) "
            f"| {ratio[(tasks, turns)]:.1f}x | {n.cpu_p50_ms:.0f} / {o.cpu_p50_ms:.0f} "
            f"| {n.peak_rss_mb:.0f} / {o.peak_rss_mb:.0f} "
            f"| {'-' if o.prefill_p50_ms is None else f'{o.prefill_p50_ms:.0f}'} |"
        )
    return "\n".join(lines)


def rows_as_dicts(rows: Sequence[BenchRow]) -> list[dict[str, Any]]:
    """The rows as docs/contract.md specifies them."""
    return [{k: v for k, v in asdict(r).items() if k not in ("cpu_p50_ms", "prefill_p50_ms")} for r in rows]


_OBJECTS = [
    ("flight", "a plane trip"), ("hotel", "a room booking"), ("invoice", "a bill to a client"),
    ("meeting", "a team meeting"), ("expense", "an expense claim"), ("contract", "a client contract"),
    ("newsletter", "the monthly newsletter"), ("ticket", "a support ticket"), ("recipe", "a cooking recipe"),
    ("workout", "a training plan"), ("playlist", "a music playlist"), ("budget", "a project budget"),
    ("lesson", "a course lesson"), ("survey", "a customer survey"), ("campaign", "an ad campaign"),
]  # fmt: skip
_ACTIONS = [
    ("create", "Create"), ("cancel", "Cancel"), ("summarise", "Summarise"), ("schedule", "Schedule"),
    ("review", "Review"), ("translate", "Translate"), ("update", "Update"), ("find", "Find"),
    ("compare", "Compare"), ("share", "Share"),
]  # fmt: skip
_DETAILS = ["for next Tuesday", "with the Berlin team", "under 500 euros", "in a friendly tone", "before noon",
            "for the Q3 review", "with two options", "in French", "for my manager", "as a short list"]  # fmt: skip
MAX_TASKS = len(_OBJECTS) * len(_ACTIONS)


def synthetic_catalog(n_tasks: int, seed: int = 0) -> TaskCatalog:
    """``n_tasks`` distinct tasks such as ``schedule_meeting`` (same seed, same catalogue).

    Example:
        >>> synthetic_catalog(3).names
        ['cancel_lesson', 'schedule_contract', 'schedule_recipe']
    """
    if not 1 <= n_tasks <= MAX_TASKS:
        raise ValueError(f"n_tasks must be between 1 and {MAX_TASKS}")
    pairs = [(action, obj) for action in _ACTIONS for obj in _OBJECTS]
    random.Random(seed).shuffle(pairs)
    tasks = []
    for (verb, title), (noun, gloss) in pairs[:n_tasks]:
        tasks.append(
            Task(
                name=f"{verb}_{noun}",
                description=f"{title} {gloss} for the user: asks what is needed, then does it and confirms.",
                examples=[f"Can you {verb} the {noun}?"],
            )
        )
    return TaskCatalog(tasks)


def synthetic_conversation(catalog: TaskCatalog, n_turns: int, seed: int = 0) -> list[BaseMessage]:
    """A conversation of ``n_turns`` user turns (with assistant replies between them) about catalogue tasks:
    starts a task, gives details, sometimes switches, and closes at the end."""
    rng = random.Random(seed)
    names = catalog.names
    messages: list[BaseMessage] = []
    current = rng.choice(names)
    for turn in range(n_turns):
        verb, _, noun = current.partition("_")
        if messages:
            messages.append(AIMessage(f"Sure. For the {noun}, do you want it {rng.choice(_DETAILS)}? Anything else?"))
        if turn == 0 or rng.random() < 0.2:
            current = rng.choice(names) if turn else current
            verb, _, noun = current.partition("_")
            text = f"Hi, could you {verb} the {noun} {rng.choice(_DETAILS)}? It is for the weekly planning."
        elif turn == n_turns - 1:
            text = "That's perfect, thanks a lot. That's all for today, goodbye!"
        else:
            text = f"Make it {rng.choice(_DETAILS)}, and keep the {noun} short and clear."
        messages.append(HumanMessage(text))
    return messages
