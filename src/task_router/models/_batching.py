"""Micro-batching of encoder calls: texts that arrive while a forward pass runs are embedded together in the next.

Routing many conversations at once on a CPU, one forward per turn wastes the cores (each tiny forward pays its own
overhead, and two forwards at once fight over the same cores). A :class:`MicroBatcher` lets the first caller run
the forward for everything queued meanwhile; the other callers wait for their rows. A lone caller runs at once:
nothing waits for a batch to fill.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np


class _Request:
    __slots__ = ("future", "texts")

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.future: Future[np.ndarray] = Future()


class MicroBatcher:
    """Calls ``encode(texts) -> (len(texts), dim) array`` with the texts of every caller waiting at that moment.

    At most one forward runs at a time (the model is not thread-safe, and one forward already uses every core it is
    given); at most ``max_texts`` texts go into one forward. Sync callers (``batcher(texts)``, from decision
    threads) and async ones (``await batcher.acall(texts)``, from an event loop) share the queue: an async caller
    holds no thread while it waits, so many concurrent decisions of one event loop share one forward.

    Example:
        >>> calls = []
        >>> def encode(texts):
        ...     calls.append(len(texts))
        ...     return np.array([[float(len(t))] for t in texts])
        >>> batcher = MicroBatcher(encode)
        >>> batcher(["ab", "abc"]).ravel().tolist(), calls
        ([2.0, 3.0], [2])
        >>> import asyncio
        >>> asyncio.run(batcher.acall(["abcd"])).ravel().tolist()
        [4.0]
    """

    def __init__(self, encode: Callable[[list[str]], np.ndarray], *, max_texts: int = 256) -> None:
        if max_texts < 1:
            raise ValueError(f"max_texts must be at least 1, got {max_texts}")
        self.encode = encode
        self.max_texts = max_texts
        self._queue: deque[_Request] = deque()
        self._running = False  # a caller or a decision thread is running forwards for the queue
        self._scheduled = False  # a drain is queued on the decision threads for async callers
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        request = _Request(texts)
        with self._lock:
            self._queue.append(request)
            runner = not self._running
            self._running = True
        if runner:  # no forward running: this caller runs the forwards for everything queued, its own included
            self._drain()
        return request.future.result()

    async def acall(self, texts: Sequence[str]) -> np.ndarray:
        """The rows of ``texts``, awaited: the forward runs on a decision thread, never on the event loop."""
        from task_router._budget import run_in_background

        request = _Request(texts)
        with self._lock:
            self._queue.append(request)
            schedule = not self._running and not self._scheduled
            self._scheduled = self._scheduled or schedule
        if schedule:
            run_in_background(self._scheduled_drain)
        return await asyncio.wrap_future(request.future)

    def _scheduled_drain(self) -> None:
        # A sync caller may have started the forwards meanwhile (it takes the queue, async requests included):
        # then there is nothing to do here, and no decision thread ever waits for one that has not started.
        with self._lock:
            self._scheduled = False
            if self._running:
                return
            self._running = True
        self._drain()

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch = self._take()
                if not batch:
                    self._running = False
                    return
            self._run(batch)

    def _take(self) -> list[_Request]:
        batch: list[_Request] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0].texts) <= self.max_texts):
            request = self._queue.popleft()
            batch.append(request)
            size += len(request.texts)
        return batch

    def _run(self, batch: list[_Request]) -> None:
        texts = [text for request in batch for text in request.texts]
        try:
            vectors = np.asarray(self.encode(texts))
        except BaseException as exc:  # every caller of the batch gets the error, not only the one that ran it
            for request in batch:
                request.future.set_exception(exc)
            return
        start = 0
        for request in batch:
            request.future.set_result(vectors[start : start + len(request.texts)])
            start += len(request.texts)
