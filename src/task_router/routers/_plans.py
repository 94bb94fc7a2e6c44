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
from typing import Any, TypeVar

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


class _Done(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


def _advance(plan: Plan[T], reply: Any, error: BaseException | None) -> Step:
    """The plan's next step, given the last call's result or error; :class:`_Done` with the plan's result."""
    try:
        return plan.send(reply) if error is None else plan.throw(error)
    except StopIteration as stop:
        raise _Done(stop.value) from None
    except RuntimeError as exc:
        if isinstance(error, StopIteration) and exc.__cause__ is error:
            raise error from None  # a generator turns a StopIteration thrown in into RuntimeError (PEP 479)
        raise


def run_plan(plan: Plan[T], config: RunnableConfig) -> T:
    """Drive ``plan`` synchronously (see the module docstring) and return what it returns."""
    reply: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = _advance(plan, reply, error)
        except _Done as done:
            return done.value  # type: ignore[no-any-return]
        reply, error = None, None
        try:
            reply = step.runnable.invoke(step.input, config) if isinstance(step, ModelCall) else step.fn(*step.args)
        except Exception as exc:  # thrown back into the plan at its yield
            error = exc


async def arun_plan(plan: Plan[T], config: RunnableConfig) -> T:
    """Drive ``plan`` on the event loop (see the module docstring) and return what it returns."""
    reply: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = _advance(plan, reply, error)
        except _Done as done:
            return done.value  # type: ignore[no-any-return]
        reply, error = None, None
        try:
            if isinstance(step, ModelCall):
                reply = await step.runnable.ainvoke(step.input, config)
            else:
                reply = await (step.afn(*step.args) if step.afn is not None else offload(step.fn, *step.args))
        except Exception as exc:  # thrown back into the plan at its yield
            error = exc


__all__ = ["ModelCall", "Offload", "Plan", "Step", "arun_plan", "run_plan"]
