"""How a decision runs: one plan for sync and async, bounded by the router's time-out, ``timeout_s``.

The time-out: a hung or slow model never holds a user's turn for ever. One setting, two effects. Every router kind
runs its decision within ``timeout_s`` (:data:`DEFAULT_TIMEOUT_S` seconds by default): when it is spent, the router
raises :class:`DecisionTimeout` (a ``TimeoutError``), so that the composition around it decides: the graph, the
middleware and the CLI route through :func:`~task_router.reliability.make_reliable`, whose fallback stages then
decide and say why in ``fallback`` and ``rationale``. A router kind that asks a network chat model loaded from a
spec string (``openai:``, ``azure_openai:``, ``anthropic:``) also gives the client that time-out, so that the HTTP
request itself stops (:func:`~task_router.models.load_router_model`). Set it, most specific first:

- per call: ``router.invoke(turn, {"configurable": {"router_timeout_s": 5}})`` (:data:`TIMEOUT_KEY`; the
  decision's limit only: the client keeps the time-out it was built with);
- per router: ``make_router(kind, ..., timeout_s=5)`` (``None``: no limit); assigning ``router.timeout_s`` later
  changes the decision's limit only;
- per process: the environment variable ``TASK_ROUTER_TIMEOUT_S`` (``none`` or ``0``: no limit).

Python cannot kill a thread: a decision that runs out of time is abandoned and finishes in the background (its
result is dropped); the client time-out of a network model ends its request too.

One body for a router's sync and async decision: a plan that yields the calls it needs. A router kind writes its
decision once, as a generator (:meth:`~task_router.Router.plan`) that yields each call it needs and receives the
call's result:

- :class:`ModelCall`: a chat model (any Runnable) and its input. The sync driver calls ``invoke``, the async one
  ``await ainvoke``: an API model's own async client, no thread per decision. A call that raises has its error
  thrown back into the plan at the ``yield``, so ``try: reply = yield ModelCall(...)`` handles it as it would a
  direct call.
- :class:`Offload`: local CPU work (an encoder forward, a retrieval). The sync driver runs it in place (the sync
  decision already runs on a decision thread); the async one awaits it on the same bounded pool of decision
  threads (:func:`offload`), off the event loop.

``run_plan`` and ``arun_plan`` are the two drivers; :class:`~task_router.Router` uses them for
``invoke`` and ``ainvoke``. Wrappers compose plans with ``yield from``.

Example:
    >>> from langchain_core.runnables import RunnableLambda
    >>> def plan(text):
    ...     reply = yield ModelCall(RunnableLambda(str.upper), text)
    ...     length = yield Offload(len, reply)
    ...     return reply, length
    >>> run_plan(plan("recap"), {})
    ('RECAP', 5)
    >>> import asyncio
    >>> asyncio.run(arun_plan(plan("recap"), {}))
    ('RECAP', 5)
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from langchain_core.runnables import Runnable, RunnableConfig

DEFAULT_TIMEOUT_S = 60.0  # generous: a 135M model generating a ReAct step on a busy 2-core CPU takes ~15 s
TIMEOUT_KEY = "router_timeout_s"  # config["configurable"][TIMEOUT_KEY] sets the time-out of one call
TIMEOUT_ENV = "TASK_ROUTER_TIMEOUT_S"
RENAMED_ENV = "TASK_ROUTER_TIME_BUDGET_S"  # the old name of TIMEOUT_ENV: refused with the fix, never read
DEFAULT = "default"  # Router.timeout_s: use the per-process default (environment, else DEFAULT_TIMEOUT_S)
T = TypeVar("T")


class DecisionTimeout(TimeoutError):
    """A decision (or one attempt at it) did not finish within its time budget."""


def resolve_timeout(config: Any, own: float | str | None) -> float | None:
    """The time-out in seconds of one call (None: no limit): the call's config, else ``own``, else the default.

    Raises:
        ValueError: a value that is not a positive number of seconds (or None), or the environment still sets
            the renamed ``TASK_ROUTER_TIME_BUDGET_S`` without ``TASK_ROUTER_TIMEOUT_S``.

    Example:
        >>> resolve_timeout({"configurable": {"router_timeout_s": 5}}, 30), resolve_timeout(None, 30)
        (5.0, 30.0)
    """
    return timeout_and_origin(config, own)[0]


def timeout_and_origin(config: Any, own: float | str | None) -> tuple[float | None, str]:
    """:func:`resolve_timeout` and where its value was set, as :class:`DecisionTimeout`'s message names it (so
    that a user knows what to change): the call's config key, the router's ``timeout_s``, the environment
    variable, or the default.

    Example:
        >>> timeout_and_origin(None, 30)
        (30.0, "the router's timeout_s: make_router(..., timeout_s=...) or router.timeout_s")
    """
    configurable = (config or {}).get("configurable") or {} if isinstance(config, dict) else {}
    if TIMEOUT_KEY in configurable:
        where = f"config['configurable']['{TIMEOUT_KEY}']"
        return _seconds(configurable[TIMEOUT_KEY], where), f"set by the call's {where}"
    if own != DEFAULT:
        return _seconds(own, "timeout_s"), "the router's timeout_s: make_router(..., timeout_s=...) or router.timeout_s"
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        if os.environ.get(RENAMED_ENV, "").strip():
            raise ValueError(
                f"{RENAMED_ENV} was renamed {TIMEOUT_ENV}: set {TIMEOUT_ENV} instead (same values: seconds, or "
                "'none' for no limit) and unset the old name"
            )
        return DEFAULT_TIMEOUT_S, f"the default; set make_router(..., timeout_s=...) or {TIMEOUT_ENV} to change it"
    seconds = None if raw.lower() in ("none", "0", "off") else _seconds(raw, TIMEOUT_ENV)
    return seconds, f"set by the environment variable {TIMEOUT_ENV}"


def timed_out(seconds: float | None, origin: str) -> DecisionTimeout:
    """The error of a decision that ran past its time-out of ``seconds``, set where ``origin`` says
    (:func:`timeout_and_origin`).

    Example:
        >>> timed_out(5, "set by the environment variable TASK_ROUTER_TIMEOUT_S")
        DecisionTimeout('timed out after 5 s (set by the environment variable TASK_ROUTER_TIMEOUT_S)')
    """
    after = "" if seconds is None else f" after {seconds:.3g} s"  # None is no limit: no call times out then
    return DecisionTimeout(f"timed out{after} ({origin})")


def _seconds(value: Any, where: str) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a number of seconds (or None for no limit), got {value!r}") from None
    if not seconds > 0:  # also refuses NaN
        raise ValueError(f"{where} must be a positive number of seconds (or None for no limit), got {value!r}")
    # inf, or longer than a thread can wait (about 292 years): no limit, for the decision and for a model's client
    # alike (httpx's sync client fails every request on an infinite time-out)
    return None if seconds >= threading.TIMEOUT_MAX else seconds


THREADS_ENV = "TASK_ROUTER_DECISION_THREADS"


def max_decision_threads() -> int:
    """The most decision threads a process keeps: ``TASK_ROUTER_DECISION_THREADS``, else ThreadPoolExecutor's
    default ``min(32, CPUs + 4)`` (local forwards gain nothing past the cores; API calls in sync code wait on the
    network, hence the few spare threads; async callers need none, see :func:`offload`)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return min(32, (os.cpu_count() or 1) + 4)
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{THREADS_ENV} must be a whole number of threads, at least 1, got {raw!r}")
    return int(raw)


class _DecisionThreads:
    """A bounded pool of reused daemon threads that run every decision.

    Reused: torch's CPU work stays on the same OS thread from one decision to the next; once a second thread has
    run torch, every forward is slower (measured, quick bench, scoring router: 52 ms a decision on one thread, 95 ms
    once two threads have run torch, whichever runs it; OMP_WAIT_POLICY=PASSIVE does not help). Daemon: a hung
    decision never blocks the process's exit. Bounded: a thread is added only when none is idle and fewer than
    :func:`max_decision_threads` exist; beyond that, work queues (a queued decision still has its caller's time
    budget: it times out if it cannot start in time). A hung decision keeps its thread until it returns.

    Per process: a child made by ``os.fork()`` (gunicorn / uvicorn pre-fork workers, ``multiprocessing`` with
    "fork") has none of its parent's threads, only their bookkeeping: the count of idle threads that are not there,
    a queue that nothing reads, maybe a lock held by a thread that no longer exists. :meth:`reset` starts the
    child afresh (``os.register_at_fork``, below) and :meth:`submit` checks the process id too, so the first
    decision in the child starts its own thread."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every thread: the next :meth:`submit` starts one (in a forked child, none of them exist)."""
        self._tasks: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]]] = queue.SimpleQueue()
        self._idle = 0
        self._alive = 0
        self._max = max_decision_threads()
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        if self._pid != os.getpid():  # forked without the at-fork hook (a fork that bypassed os.fork)
            self.reset()
        future: Future[T] = Future()
        with self._lock:
            if self._idle:  # an idle thread takes it
                self._idle -= 1
                start = False
            else:  # none idle: a new thread, unless the pool is full (then it queues for the next free one)
                start = self._alive < self._max
                self._alive += 1 if start else 0
        if start:
            threading.Thread(target=self._work, name="task-router-decision", daemon=True).start()
        self._tasks.put((future, fn))
        return future

    def _work(self) -> None:
        _ON_POOL.active = True
        while True:
            future, fn = self._tasks.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # handed back to the caller's thread
                    future.set_exception(exc)
            with self._lock:
                if self._tasks.empty():
                    self._idle += 1
                else:  # queued work: this thread takes it next without counting itself idle
                    continue


_ON_POOL = threading.local()  # .active on the pool's own threads
_THREADS = _DecisionThreads()
if hasattr(os, "register_at_fork"):  # POSIX: a forked child starts with no decision threads (see _DecisionThreads)
    os.register_at_fork(after_in_child=_THREADS.reset)


def call_within(fn: Callable[..., T], *args: Any, timeout: float | None, origin: str = "the caller's timeout") -> T:
    """``fn(*args)`` in a decision thread (see :class:`_DecisionThreads`) with the caller's context vars (so
    tracing still works); DecisionTimeout if it has not returned within ``timeout`` seconds (the thread is then
    abandoned to finish in the background), its message naming ``origin``, where the time-out was set
    (:func:`timeout_and_origin`). ``timeout=None`` waits as long as it takes.

    Run a router's other model work (warm-up, cache prefill) here too, so that it shares the decisions' thread.
    Called from a decision thread itself (a router deciding through another's ``invoke``), ``fn`` runs right there,
    within the outer call's budget: a bounded pool whose threads all wait for queued work of their own would never
    finish it.

    Example:
        >>> call_within(sum, [1, 2, 3], timeout=5)
        6
    """
    if getattr(_ON_POOL, "active", False):
        return fn(*args)
    future = run_in_background(fn, *args)
    # A thread cannot wait longer than threading.TIMEOUT_MAX (about 292 years; it raises OverflowError): beyond it,
    # as for an infinite time-out, there is no limit (asyncio's deadline reads it so too).
    wait = None if timeout is None or timeout >= threading.TIMEOUT_MAX else max(0.0, timeout)
    try:
        future.exception(timeout=wait)  # waits; the call's error is kept
    except FutureTimeout:  # (the builtin TimeoutError: a TimeoutError raised by ``fn`` itself comes back below)
        future.cancel()  # not started yet: it never will
        raise timed_out(timeout, origin) from None
    return future.result()


@asynccontextmanager
async def deadline(timeout: float | None, origin: str) -> AsyncIterator[None]:
    """The async form of :func:`call_within`'s limit: ``asyncio.timeout(timeout)`` around the block, whose expiry
    raises a DecisionTimeout naming ``origin`` (:func:`timed_out`); a TimeoutError the block raises itself (a
    model's own time-out) comes through as it is.

    Example:
        >>> async def slow():
        ...     async with deadline(0.01, "the router's timeout_s"):
        ...         await asyncio.sleep(10)
        >>> asyncio.run(slow())
        Traceback (most recent call last):
        task_router._budget.DecisionTimeout: timed out after 0.01 s (the router's timeout_s)
    """
    limit = asyncio.timeout(timeout)
    try:
        async with limit:
            yield
    except TimeoutError:
        if not limit.expired():
            raise  # the block's own time-out, not this one
        raise timed_out(timeout, origin) from None


async def offload(fn: Callable[..., T], *args: Any) -> T:
    """Await ``fn(*args)`` run on a decision thread (see :class:`_DecisionThreads`) with the caller's context vars:
    the async form of :func:`call_within`, for local CPU work called from an event loop (no thread per call). The
    caller bounds it (:func:`deadline`); a cancelled call that has not started never runs.

    Example:
        >>> import asyncio
        >>> asyncio.run(offload(sum, [1, 2, 3]))
        6
    """
    return await asyncio.wrap_future(run_in_background(_stop_iteration_as_error, fn, *args))


def _stop_iteration_as_error(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)``, with a StopIteration it raises turned into a RuntimeError, as a coroutine does (PEP 479): an
    asyncio future cannot hold a StopIteration, so its awaiter would wait for ever."""
    try:
        return fn(*args)
    except StopIteration as exc:
        raise RuntimeError(f"{getattr(fn, '__name__', fn)!s} raised StopIteration") from exc


def run_in_background(fn: Callable[..., T], *args: Any) -> Future[T]:
    """Start ``fn(*args)`` on a decision thread with the caller's context vars and return its future at once (the
    graph's cache prefill; :func:`call_within` and :func:`offload` wait for it): the same bounded pool as the
    decisions, so a burst of turns starts no thread of its own.

    Example:
        >>> run_in_background(sum, [1, 2, 3]).result(timeout=5)
        6
    """
    context = contextvars.copy_context()
    return _THREADS.submit(lambda: context.run(fn, *args))


@dataclass(frozen=True)
class ModelCall:
    """Call ``runnable`` on ``input`` (with the decision's config): ``invoke`` in sync, ``ainvoke`` in async."""

    runnable: Runnable[Any, Any]
    input: Any


@dataclass(frozen=True)
class Offload:
    """Run ``fn(*args)``, local CPU work: in place in sync, on the decision threads in async, or, given ``afn``,
    ``await afn(*args)`` in async (e.g. a micro-batched forward that an event loop's decisions share)."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    afn: Callable[..., Awaitable[Any]] | None

    def __init__(self, fn: Callable[..., Any], *args: Any, afn: Callable[..., Awaitable[Any]] | None = None) -> None:
        object.__setattr__(self, "fn", fn)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "afn", afn)


Step = ModelCall | Offload
Plan = Generator[Step, Any, T]


@dataclass(frozen=True)
class _Outcome:
    """What the last step gave back to the plan: its reply, or the exception it raised."""

    reply: Any = None
    error: Exception | None = None


@dataclass(frozen=True)
class _Finished(Generic[T]):
    """The plan has returned ``value``."""

    value: T


def _advance(plan: Plan[T], last: _Outcome) -> Step | _Finished[T]:
    """The plan's next step, given the last step's outcome; :class:`_Finished` with the plan's result."""
    try:
        return plan.send(last.reply) if last.error is None else plan.throw(last.error)
    except StopIteration as stop:
        return _Finished(stop.value)
    except RuntimeError as exc:
        if isinstance(last.error, StopIteration) and exc.__cause__ is last.error:
            raise last.error from None  # a generator turns a StopIteration thrown in into RuntimeError (PEP 479)
        raise


def _reply(step: Step, config: RunnableConfig) -> Any:
    """Run ``step`` in place and return its result."""
    if isinstance(step, ModelCall):
        return step.runnable.invoke(step.input, config)
    return step.fn(*step.args)


async def _areply(step: Step, config: RunnableConfig) -> Any:
    """Run ``step`` off the event loop (or on it, for a model's own async client) and return its result."""
    if isinstance(step, ModelCall):
        return await step.runnable.ainvoke(step.input, config)
    return await (step.afn(*step.args) if step.afn is not None else offload(step.fn, *step.args))


def run_plan(plan: Plan[T], config: RunnableConfig) -> T:
    """Drive ``plan`` synchronously (see the module docstring) and return what it returns."""
    outcome = _Outcome()
    while not isinstance(step := _advance(plan, outcome), _Finished):
        try:
            outcome = _Outcome(reply=_reply(step, config))
        except Exception as exc:  # thrown back into the plan at its yield
            outcome = _Outcome(error=exc)
    return step.value


async def arun_plan(plan: Plan[T], config: RunnableConfig) -> T:
    """Drive ``plan`` on the event loop (see the module docstring) and return what it returns."""
    outcome = _Outcome()
    while not isinstance(step := _advance(plan, outcome), _Finished):
        try:
            outcome = _Outcome(reply=await _areply(step, config))
        except Exception as exc:  # thrown back into the plan at its yield
            outcome = _Outcome(error=exc)
    return step.value
