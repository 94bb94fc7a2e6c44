"""MicroBatcher: concurrent callers share forwards, each gets exactly its own rows, errors reach every caller."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from task_router.models._encoders import MicroBatcher


class SlowEncoder:
    def __init__(self, delay_s: float = 0.02) -> None:
        self.delay_s = delay_s
        self.batches: list[int] = []
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        time.sleep(self.delay_s)
        with self._lock:
            self.running -= 1
            self.batches.append(len(texts))
        return np.array([[float(int(t.split("-")[0])), float(int(t.split("-")[1]))] for t in texts])


def test_concurrent_callers_get_their_own_rows_from_shared_forwards() -> None:
    encoder = SlowEncoder()
    batcher = MicroBatcher(encoder)

    def call(i: int) -> np.ndarray:
        return batcher([f"{i}-{j}" for j in range(1 + i % 3)])

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(call, range(64)))
    for i, rows in enumerate(results):
        assert rows.tolist() == [[float(i), float(j)] for j in range(1 + i % 3)]
    assert encoder.max_running == 1  # never two forwards at once
    assert len(encoder.batches) < 64 and max(encoder.batches) > 3  # callers were batched together
    assert sum(encoder.batches) == sum(1 + i % 3 for i in range(64))  # every text embedded once


def test_max_texts_splits_a_large_queue_and_nobody_is_left_waiting() -> None:
    encoder = SlowEncoder(0.01)
    batcher = MicroBatcher(encoder, max_texts=4)
    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(lambda i: batcher([f"{i}-0", f"{i}-1", f"{i}-2"]), range(24)))
    assert [r[:, 0].tolist() for r in results] == [[float(i)] * 3 for i in range(24)]
    assert max(encoder.batches) <= 4


def test_an_error_reaches_every_caller_of_the_batch_and_the_batcher_recovers() -> None:
    failing = {"on": True}

    def encode(texts: list[str]) -> np.ndarray:
        time.sleep(0.01)
        if failing["on"]:
            raise RuntimeError("model crashed")
        return np.ones((len(texts), 1))

    batcher = MicroBatcher(encode)
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(batcher, ["x"]) for _ in range(8)]
        errors = [f.exception() for f in futures]
    assert all(isinstance(e, RuntimeError) for e in errors)
    failing["on"] = False
    assert batcher(["y", "z"]).shape == (2, 1)


def test_invalid_max_texts() -> None:
    with pytest.raises(ValueError, match="max_texts"):
        MicroBatcher(lambda texts: np.zeros((len(texts), 1)), max_texts=0)


def test_async_callers_share_forwards_without_a_thread_each() -> None:
    import asyncio

    encoder = SlowEncoder()
    batcher = MicroBatcher(encoder)

    async def main() -> list[np.ndarray]:
        return await asyncio.gather(*(batcher.acall([f"{i}-0", f"{i}-1"]) for i in range(64)))

    results = asyncio.run(main())
    assert [rows.tolist() for rows in results] == [[[float(i), 0.0], [float(i), 1.0]] for i in range(64)]
    assert encoder.max_running == 1 and sum(encoder.batches) == 128
    # 64 waiting callers share a few forwards (idle: 2 or 3; a loaded event loop may enqueue them more slowly)
    assert len(encoder.batches) <= 16


def test_sync_and_async_callers_on_a_full_pool_never_wait_for_each_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """Async callers schedule their forward on the decision threads; sync callers on those very threads must not
    wait for a forward that cannot start because they hold every thread."""
    import asyncio

    from task_router import _budget as budget

    monkeypatch.setenv(budget.THREADS_ENV, "2")
    monkeypatch.setattr(budget, "_THREADS", budget._DecisionThreads())
    encoder = SlowEncoder(delay_s=0.05)
    batcher = MicroBatcher(encoder)

    async def main() -> list[np.ndarray]:
        sync_calls = [asyncio.wrap_future(budget._THREADS.submit(lambda i=i: batcher([f"{i}-9"]))) for i in range(4)]
        async_calls = [batcher.acall([f"{i}-7"]) for i in range(8)]
        return await asyncio.wait_for(asyncio.gather(*sync_calls, *async_calls), timeout=60)

    results = asyncio.run(main())
    assert [rows.tolist() for rows in results] == [[[float(i), 9.0]] for i in range(4)] + [
        [[float(i), 7.0]] for i in range(8)
    ]
