"""A bounded LRU of per-conversation KV caches, keyed by LangGraph thread id."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from task_router._inference.packed import cache_nbytes

DEFAULT_MAX_THREADS = 64
DEFAULT_MAX_BYTES = 512 * 2**20


@dataclass
class ThreadCache:
    """The KV cache of one thread's prompt so far: ``ids`` are the tokens it holds, under catalogue ``prefix_key``."""

    prefix_key: str
    ids: tuple[int, ...]
    cache: Any  # transformers DynamicCache
    nbytes: int = 0


class ThreadKVStore:
    """LRU of :class:`ThreadCache` bounded by thread count and total bytes.

    Memory budget: an entry costs ``2 * layers * kv_heads * head_dim * bytes_per_value`` per prompt token,
    23 040 bytes (22.5 KiB) for the embedded SmolLM2-135M in bf16, so a 10-task catalogue with an 8-turn
    conversation (~900 tokens) takes ~20 MiB, and the default budget (64 threads, 512 MiB) keeps ~25 such
    threads; a 150-task catalogue (~6 000 tokens, ~130 MiB per thread) keeps three. The least recently used
    thread is dropped first; a dropped or unknown thread is rebuilt from the catalogue prefix on its next turn.

    Entries are checked out while in use, so two concurrent calls never share a cache: the second simply
    starts cold. Thread-safe.

    Example:
        >>> store = ThreadKVStore(max_threads=2, max_bytes=2**30)
        >>> store.checkout("t1") is None
        True
    """

    def __init__(self, max_threads: int = DEFAULT_MAX_THREADS, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_threads < 1 or max_bytes < 1:
            raise ValueError("max_threads and max_bytes must be positive: e.g. max_threads=64, max_bytes=512 * 2**20")
        self.max_threads, self.max_bytes = max_threads, max_bytes
        self._entries: OrderedDict[str, ThreadCache] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = self.evictions = 0

    def checkout(self, thread_id: str) -> ThreadCache | None:
        """Take a thread's cache out of the store (None if absent); give it back with :meth:`checkin`."""
        with self._lock:
            entry = self._entries.pop(thread_id, None)
            if entry is None:
                self.misses += 1
            else:
                self.hits += 1
            return entry

    def checkin(self, thread_id: str, entry: ThreadCache) -> None:
        """Store a thread's cache as the most recently used, evicting others to stay within budget."""
        entry.nbytes = cache_nbytes(entry.cache)
        with self._lock:
            self._entries.pop(thread_id, None)
            if entry.nbytes > self.max_bytes:
                self.evictions += 1
                return  # larger than the whole budget: not kept
            self._entries[thread_id] = entry
            while len(self._entries) > self.max_threads or self.nbytes > self.max_bytes:
                self._entries.popitem(last=False)
                self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    @property
    def nbytes(self) -> int:
        return sum(entry.nbytes for entry in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, thread_id: object) -> bool:
        return thread_id in self._entries

    def thread_ids(self) -> list[str]:
        """Thread ids from least to most recently used."""
        with self._lock:
            return list(self._entries)
