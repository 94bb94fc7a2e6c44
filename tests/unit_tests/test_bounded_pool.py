"""The decision threads are a bounded pool (issue 25, item 2): a burst of 200 concurrent decisions leaves at most
the pool's size of threads alive, the extra work queues (and still honours its time budget), and the size is
set by ``TASK_ROUTER_DECISION_THREADS`` with a clear error for a bad value."""

from __future__ import annotations

import asyncio
import threading

import pytest

from task_router import _budget as budget
from task_router._budget import DecisionTimeout, call_within, max_decision_threads, offload


def _decision_threads() -> int:
    return sum(1 for t in threading.enumerate() if t.name == "task-router-decision")


def test_a_burst_of_200_decisions_leaves_at_most_the_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "_THREADS", budget._DecisionThreads())  # other tests' pools keep their threads
    before = _decision_threads()
    release = threading.Event()

    def work(i: int) -> int:
        release.wait(30)
        return i

    async def burst() -> list[int]:
        calls = [asyncio.ensure_future(offload(work, i)) for i in range(200)]
        await asyncio.sleep(0.2)
        assert _decision_threads() - before <= max_decision_threads()  # while they are all waiting to run
        release.set()
        return await asyncio.gather(*calls)

    assert asyncio.run(burst()) == list(range(200))
    assert _decision_threads() - before <= max_decision_threads()
    assert budget._THREADS._alive <= max_decision_threads()


def test_work_beyond_the_pool_queues_and_keeps_its_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(budget.THREADS_ENV, "2")
    monkeypatch.setattr(budget, "_THREADS", budget._DecisionThreads())  # a fresh pool of 2, for this test
    release = threading.Event()
    busy = [budget._THREADS.submit(lambda: release.wait(30)) for _ in range(2)]
    with pytest.raises(DecisionTimeout):
        call_within(sum, [1, 2], timeout=0.2)  # queued behind the 2 busy threads, it cannot start in time
    release.set()
    assert all(future.result(timeout=30) for future in busy)
    assert call_within(sum, [1, 2], timeout=30) == 3  # the pool works again
    assert budget._THREADS._alive == 2


@pytest.mark.parametrize("value", ["0", "-3", "many", "2.5"])
def test_a_bad_pool_size_names_the_fix(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(budget.THREADS_ENV, value)
    with pytest.raises(ValueError, match="whole number of threads, at least 1"):
        max_decision_threads()


def test_a_router_deciding_through_another_on_a_full_pool_does_not_wait_for_itself(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A decision thread that calls call_within again (a router deciding through another's invoke) runs it in
    place: on a pool of 1, queueing it would wait for the very thread that waits."""
    monkeypatch.setenv(budget.THREADS_ENV, "1")
    monkeypatch.setattr(budget, "_THREADS", budget._DecisionThreads())
    assert call_within(lambda: call_within(sum, [1, 2], timeout=5), timeout=10) == 3


def test_the_keep_active_stage_decides_while_every_decision_thread_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    from task_router import TaskCatalog
    from task_router.routers._base import Prediction, Router
    from task_router.routers._fallbacks import KEEP_ACTIVE, make_reliable

    monkeypatch.setenv(budget.THREADS_ENV, "2")
    monkeypatch.setattr(budget, "_THREADS", budget._DecisionThreads())
    release = threading.Event()

    class Hung(Router):
        kind = "hung"

        def predict(self, routing, config):
            release.wait(30)
            return Prediction("linkedin_post")

    router = make_reliable(Hung(catalog=TaskCatalog.demo()), fallback=None)
    turn = {"messages": ["shorter please"], "active_task": "meeting_recap"}
    try:
        for _ in range(4):  # the first two hold both threads; the next ones cannot even start
            decision = router.invoke(turn, {"configurable": {"router_timeout_s": 0.3}})  # every stage's budget
            assert (decision.event, decision.task, decision.stage) == ("CONTINUE", "meeting_recap", KEEP_ACTIVE)
    finally:
        release.set()
