"""Score candidate answers after a conversation, reusing the catalogue's and each thread's KV cache."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage
from transformers import DynamicCache

from task_router._catalog import TaskCatalog
from task_router._inference.kv_store import ThreadCache, ThreadKVStore
from task_router._inference.layout import Prefix, PromptLayout
from task_router._inference.packed import copy_cache, extend_and_score, prefill
from task_router._inference.trie import TokenTrie

_MODEL_LOCKS: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: Any) -> threading.Lock:
    """One lock per model object: forwards on a shared model run one at a time (each uses every core)."""
    with _LOCKS_GUARD:
        lock = _MODEL_LOCKS.get(model)
        if lock is None:
            lock = _MODEL_LOCKS[model] = threading.Lock()
        return lock


@dataclass(frozen=True)
class ScoreResult:
    """Per candidate, the log-probability of each of its tokens; and how much of the prompt was reused."""

    logprobs: list[list[float]]
    prompt_tokens: int  # catalogue + conversation + question
    computed_tokens: int  # prompt tokens run through the model for this call (the rest came from caches)


class ScoringEngine:
    """Scores candidate answers for a (catalogue, conversation, active task) with as little recomputation as
    possible:

    - the catalogue prefix's KV cache is built once per catalogue text (an edit changes the text, hence the key),
      in a small LRU of ``prefix_slots`` catalogues;
    - with a ``thread_id``, the thread's KV cache (catalogue + conversation so far) is kept in ``store`` and only
      the tokens after the longest common prefix with the cached ids are computed (new turns, normally);
    - the question and every candidate (packed as a token trie) go through the model in the same forward.

    ``use_cache=False`` runs the whole prompt in one forward from scratch (the reference path).

    Example:
        >>> engine = ScoringEngine(load_embedded_model(), PromptLayout(tok, load_prompt("scoring")))  # doctest: +SKIP
        >>> engine.score(catalog, messages, None, [[42], [43]], thread_id="t1").logprobs  # doctest: +SKIP
    """

    def __init__(
        self, model: Any, layout: PromptLayout, *, store: ThreadKVStore | None = None, prefix_slots: int = 4
    ) -> None:
        self.model = model
        self.layout = layout
        self.store = store if store is not None else ThreadKVStore()
        self.prefix_slots = prefix_slots
        self._prefixes: OrderedDict[str, DynamicCache] = OrderedDict()
        self._prefix_lock = threading.Lock()
        self._lock = model_lock(model)

    # -- caches ------------------------------------------------------------------------------------------------
    def prefix_cache(self, prefix: Prefix) -> DynamicCache:
        """A fresh copy of the catalogue prefix's KV cache (built on first use)."""
        with self._prefix_lock:
            cached = self._prefixes.get(prefix.key)
            if cached is None:
                with self._lock:
                    cached = prefill(self.model, prefix.ids)
                self._prefixes[prefix.key] = cached
                while len(self._prefixes) > self.prefix_slots:
                    self._prefixes.popitem(last=False)
            self._prefixes.move_to_end(prefix.key)
            return copy_cache(cached, self.model.config)

    def _start(self, prefix: Prefix, prompt: tuple[int, ...], thread_id: str | None) -> tuple[DynamicCache, int]:
        """A cache holding a prefix of ``prompt``, and its length."""
        if thread_id is not None:
            entry = self.store.checkout(thread_id)
            if entry is not None and entry.prefix_key == prefix.key:
                common = _common_prefix(entry.ids, prompt)
                if common >= len(prefix.ids):
                    if common < len(entry.ids):
                        entry.cache.crop(common - len(entry.ids))
                    return entry.cache, common
        return self.prefix_cache(prefix), len(prefix.ids)

    # -- scoring -----------------------------------------------------------------------------------------------
    def score(
        self,
        catalog: TaskCatalog,
        messages: Sequence[BaseMessage],
        active_task: str | None,
        candidates: Sequence[Sequence[int]],
        *,
        thread_id: str | None = None,
        use_cache: bool = True,
    ) -> ScoreResult:
        prefix = self.layout.prefix(catalog)
        prompt = prefix.ids + self.layout.conversation_ids(messages)
        suffix = self.layout.suffix_ids(active_task)
        trie = TokenTrie.build(candidates)
        if use_cache:
            cache, start = self._start(prefix, prompt, thread_id)
        else:
            cache, start, thread_id = DynamicCache(config=self.model.config), 0, None
        with self._lock:
            logprobs = extend_and_score(self.model, cache, prompt[start:] + suffix, trie)
        # The cache now holds prompt + question; keep only the prompt for the thread's next turn.
        cache.crop(-len(suffix))
        if thread_id is not None:
            self.store.checkin(thread_id, ThreadCache(prefix.key, prompt, cache))
        return ScoreResult(logprobs, len(prompt) + len(suffix), len(prompt) - start + len(suffix))

    def extend(self, catalog: TaskCatalog, messages: Sequence[BaseMessage], thread_id: str) -> int:
        """Bring the thread's cache up to date with ``messages`` (catalogue + conversation, no question) without
        scoring; returns the number of tokens computed. Called once the assistant's reply exists, it leaves only the
        next user turn for the next decision."""
        prefix = self.layout.prefix(catalog)
        prompt = prefix.ids + self.layout.conversation_ids(messages)
        cache, start = self._start(prefix, prompt, thread_id)
        if start < len(prompt):
            with self._lock:
                prefill(self.model, prompt[start:], cache)
        self.store.checkin(thread_id, ThreadCache(prefix.key, prompt, cache))
        return len(prompt) - start

    def prompt_ids(self, catalog: TaskCatalog, messages: Sequence[BaseMessage], active_task: str | None) -> list[int]:
        """The full prompt's token ids (for the naive baseline: generate from the same prompt)."""
        return [
            *self.layout.prefix(catalog).ids,
            *self.layout.conversation_ids(messages),
            *self.layout.suffix_ids(active_task),
        ]


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
