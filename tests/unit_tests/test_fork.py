"""Issue 24, item 3: decisions in a process forked after the parent decided (gunicorn / uvicorn pre-fork workers,
``multiprocessing`` with "fork"). The decision threads of :mod:`task_router._budget` do not survive a fork: the
child must start its own instead of queueing its decisions for threads that are not there (which raised
DecisionTimeout at every decision's budget)."""

from __future__ import annotations

import json
import multiprocessing
import os
import traceback
from collections.abc import Callable
from typing import Any

import pytest

from task_router import TaskCatalog
from task_router._budget import call_within
from task_router.routers._embedding import EmbeddingRouter
from task_router.routers._fallbacks import make_reliable
from tests.unit_tests.routers.test_kinds import BagOfWords

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")

# Generous: the child must decide, not decide fast. Before the fix every decision in the child waited this long
# and then raised DecisionTimeout.
BUDGET_S = 20.0
TURNS = [("recap the meeting notes", "recap"), ("write the follow up email", "email"), ("a linkedin post", "post")]


def _router(catalog: TaskCatalog) -> EmbeddingRouter:
    router = EmbeddingRouter(catalog=catalog, encoder=BagOfWords())
    router.timeout_s = BUDGET_S
    return router


def _decide(router: EmbeddingRouter, rounds: int) -> list[list[Any]]:
    """Each turn decided ``rounds`` times by the router and by its reliable composition (which would hide a
    time-out behind its fallback stage, hence the stage kept)."""
    reliable = make_reliable(router, fallback=None)
    out = []
    for _ in range(rounds):
        for text, _task in TURNS:
            decision = router.invoke({"messages": [text]})
            composed = reliable.invoke({"messages": [text]})
            out.append([decision.task, composed.task, composed.stage, composed.fallback])
    return out


def _expected(rounds: int) -> list[list[Any]]:
    return [[task, task, None, None] for _ in range(rounds) for _text, task in TURNS]


def _in_forked_child(fn: Callable[[], Any]) -> tuple[int, Any]:
    """``fn()`` in a child made by ``os.fork()``: its exit code and its result (or traceback), read from a pipe."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read)
            try:
                payload, code = {"result": fn()}, 0
            except BaseException:
                payload = {"error": traceback.format_exc()}
            with os.fdopen(write, "w") as out:
                json.dump(payload, out)
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        payload = json.loads(pipe.read() or "{}")
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), payload


def test_a_child_forked_after_a_decision_decides(catalog: TaskCatalog) -> None:
    router = _router(catalog)
    assert _decide(router, 1) == _expected(1)  # the parent's decision threads are started (and idle)
    assert call_within(sum, [1, 2], timeout=BUDGET_S) == 3
    code, payload = _in_forked_child(lambda: [_decide(router, 2), call_within(sum, [3, 4], timeout=BUDGET_S)])
    assert code == 0, payload.get("error")
    assert payload["result"] == [_expected(2), 7]
    assert _decide(router, 1) == _expected(1)  # the parent still decides on its own threads


def _child_decides(router: EmbeddingRouter, rounds: int, results: Any, index: int) -> None:
    try:
        results.put((index, _decide(router, rounds), None))
    except BaseException:
        results.put((index, None, traceback.format_exc()))
        raise


def test_eight_multiprocessing_fork_children_each_decide(catalog: TaskCatalog) -> None:
    router = _router(catalog)
    assert _decide(router, 1) == _expected(1)
    context = multiprocessing.get_context("fork")
    results = context.SimpleQueue()
    children = [context.Process(target=_child_decides, args=(router, 3, results, i)) for i in range(8)]
    for child in children:
        child.start()
    got = {}
    for _ in children:  # read before joining: a child's put can block on a full pipe
        index, decisions, error = results.get()
        got[index] = (decisions, error)
    for child in children:
        child.join()
    assert [child.exitcode for child in children] == [0] * 8, {i: e for i, (_, e) in got.items() if e}
    assert all(got[i] == (_expected(3), None) for i in range(8)), got
