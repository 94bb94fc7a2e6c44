"""One body for a router's sync and async decision: a plan that yields the calls it needs.

A router kind writes its decision once, as a generator (:meth:`~task_router.Router.plan`) that
yields each call it needs and receives the call's result:

- :class:`ModelCall`: a chat model (any Runnable) and its input. The sync driver calls ``invoke``, the async one
  ``await ainvoke``: an API model's own async client, no thread per decision. A call that raises has its error
  thrown back into the plan at the ``yield``, so ``try: reply = yield ModelCall(...)`` handles it as it would a
  direct call.
- :class:`Offload`: local CPU work (an encoder forward, a retrieval). The sync driver runs it in place (the sync
  decision already runs on a decision thread); the async one awaits it on the same bounded pool of decision
  threads (:func:`task_router._budget.offload`), off the event loop.

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

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from langchain_core.runnables import Runnable, RunnableConfig

from task_router._budget import offload

T = TypeVar("T")


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


__all__ = ["ModelCall", "Offload", "Plan", "Step", "arun_plan", "run_plan"]
