"""Micro-batching of encoder calls: texts that arrive while a forward pass runs are embedded together in the next.

Routing many conversations at once on a CPU, one forward per turn wastes the cores (each tiny forward pays its own
overhead, and two forwards at once fight over the same cores). A :class:`MicroBatcher` lets the first caller run
the forward for everything queued meanwhile; the other callers wait for their rows. A lone caller runs at once:
nothing waits for a batch to fill.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

import numpy as np


class _Request:
    __slots__ = ("done", "error", "result", "texts")

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.result: np.ndarray | None = None
        self.error: BaseException | None = None
        self.done = False


class MicroBatcher:
    """Calls ``encode(texts) -> (len(texts), dim) array`` with the texts of every caller waiting at that moment.

    At most one forward runs at a time (the model is not thread-safe, and one forward already uses every core it is
    given); at most ``max_texts`` texts go into one forward.

    Example:
        >>> calls = []
        >>> def encode(texts):
        ...     calls.append(len(texts))
        ...     return np.array([[float(len(t))] for t in texts])
        >>> batcher = MicroBatcher(encode)
        >>> batcher(["ab", "abc"]).ravel().tolist(), calls
        ([2.0, 3.0], [2])
    """

    def __init__(self, encode: Callable[[list[str]], np.ndarray], *, max_texts: int = 256) -> None:
        if max_texts < 1:
            raise ValueError(f"max_texts must be at least 1, got {max_texts}")
        self.encode = encode
        self.max_texts = max_texts
        self._queue: deque[_Request] = deque()
        self._busy = False
        self._changed = threading.Condition()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        request = _Request(texts)
        with self._changed:
            self._queue.append(request)
            while not request.done:
                if self._busy:
                    self._changed.wait()
                    continue
                self._busy = True  # this caller runs the next forward, for everything queued (its own included)
                batch = self._take()
                self._changed.release()
                try:
                    self._run(batch)
                finally:
                    self._changed.acquire()
                    self._busy = False
                    self._changed.notify_all()
        return self._result(request)

    def _take(self) -> list[_Request]:
        batch, size = [], 0
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
                request.error, request.done = exc, True
            return
        start = 0
        for request in batch:
            request.result = vectors[start : start + len(request.texts)]
            request.done = True
            start += len(request.texts)

    @staticmethod
    def _result(request: _Request) -> np.ndarray:
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result
