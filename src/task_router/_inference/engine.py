"""Score candidate answers after a conversation, reusing the catalogue's and each thread's KV cache.

The parts: the scoring prompt as token segments laid out for reuse (:class:`PromptLayout`), a bounded LRU of
per-conversation KV caches keyed by LangGraph thread id (:class:`ThreadKVStore`), and the engine that scores with
both (:class:`ScoringEngine`).

The layout: catalogue, then conversation, then question. Each segment is tokenized on its own and the ids
concatenated, so a longer conversation's ids always extend a shorter one's (the property the per-thread KV cache
relies on), and the cached and uncached paths read exactly the same ids.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from transformers import DynamicCache

from task_router._catalog import TaskCatalog
from task_router._inference.forward import TokenTrie, cache_nbytes, copy_cache, extend_and_score, prefill
from task_router._prompting import clip, message_text, render_catalog

_SYSTEM_MARK, _USER_MARK = "\x00SYSTEM\x00", "\x00USER\x00"


@dataclass(frozen=True)
class ChatFrame:
    """The model's chat template cut around the system text and the user text."""

    head: str  # up to the system text
    middle: str  # between the system text and the user text
    tail: str  # after the user text, including the assistant header
    system_in_user: bool  # the template has no system role: the system text opens the user message

    @classmethod
    def of(cls, tokenizer: Any) -> ChatFrame:
        if getattr(tokenizer, "chat_template", None) is None:
            return cls(head="", middle="\n\n", tail="\n", system_in_user=True)
        try:
            text = tokenizer.apply_chat_template(
                [{"role": "system", "content": _SYSTEM_MARK}, {"role": "user", "content": _USER_MARK}],
                tokenize=False,
                add_generation_prompt=True,
            )
            head, rest = text.split(_SYSTEM_MARK)
            middle, tail = rest.split(_USER_MARK)
            return cls(head, middle, tail, system_in_user=False)
        except Exception:  # templates that reject a system role: put the instructions in the user message
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": _USER_MARK}], tokenize=False, add_generation_prompt=True
            )
            head, tail = text.split(_USER_MARK)
            return cls(head, "\n\n", tail, system_in_user=True)


@dataclass(frozen=True)
class Prefix:
    """The catalogue part of the prompt: its token ids and a key that changes whenever its text does."""

    ids: tuple[int, ...]
    key: str


class PromptLayout:
    """Builds the scoring prompt's token ids from a prompt file (see ``prompts/scoring.yaml``).

    The conversation shown is the tail of the messages, cut at a multiple of ``stride`` so that it grows by
    whole turns and is cut only every ``stride`` messages (between ``window`` and ``window + stride - 1``
    messages are shown): between cuts the prompt only grows at its end and its KV cache can be extended.

    Example:
        >>> layout = PromptLayout(tokenizer, load_prompt("scoring"))  # doctest: +SKIP
        >>> prefix = layout.prefix(catalog).ids  # doctest: +SKIP
        >>> ids = prefix + layout.conversation_ids(messages) + layout.suffix_ids("recap")  # doctest: +SKIP
    """

    def __init__(self, tokenizer: Any, prompt: dict[str, str], *, window: int = 8, stride: int = 8) -> None:
        if window < 1 or stride < 1:
            raise ValueError("window and stride must be at least 1 message: e.g. window=8, stride=8")
        missing = {"system", "user_line", "assistant_line", "question", "answer", "closing"} - set(prompt)
        if missing:
            raise ValueError(f"the scoring prompt lacks sections {sorted(missing)}: see prompts/scoring.yaml")
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.window, self.stride = window, stride
        self.frame = ChatFrame.of(tokenizer)
        self._encode = lru_cache(maxsize=4096)(self._encode_uncached)

    def _encode_uncached(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode(self, text: str) -> tuple[int, ...]:
        return self._encode(text)

    # -- catalogue ---------------------------------------------------------------------------------------------
    def prefix(self, catalog: TaskCatalog) -> Prefix:
        """The instructions + catalogue + conversation header, cached per catalogue version."""
        return catalog.memo(f"scoring.prefix.{id(self)}", lambda: self._prefix(catalog))

    def _prefix(self, catalog: TaskCatalog) -> Prefix:
        system = self.prompt["system"].format(catalog=render_catalog(catalog.tasks)).strip()
        header = self.prompt.get("conversation_header", "")
        text = f"{self.frame.head}{system}{self.frame.middle}{header}"
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return Prefix(tuple(ids), hashlib.sha256(text.encode()).hexdigest()[:16])

    # -- conversation ------------------------------------------------------------------------------------------
    def visible(self, messages: Sequence[BaseMessage]) -> Sequence[BaseMessage]:
        """The messages the prompt shows (see the class docstring)."""
        start = max(0, (len(messages) - self.window) // self.stride * self.stride)
        while start > 0 and not isinstance(messages[start], HumanMessage):
            start -= 1  # never open on an assistant message
        return messages[start:]

    def message_ids(self, message: BaseMessage) -> tuple[int, ...]:
        if isinstance(message, HumanMessage):
            template = self.prompt["user_line"]
        elif isinstance(message, AIMessage):
            template = self.prompt["assistant_line"]
        else:
            return ()
        return self.encode(template.format(text=clip(message_text(message))))

    def conversation_ids(self, messages: Sequence[BaseMessage]) -> tuple[int, ...]:
        ids: list[int] = []
        for message in self.visible(messages):
            ids.extend(self.message_ids(message))
        return tuple(ids)

    # -- question and answers ----------------------------------------------------------------------------------
    def suffix_ids(self, active_task: str | None) -> tuple[int, ...]:
        """The question (naming the active task) and the assistant's answer opening."""
        question = self.prompt["question"].format(active_task=active_task or "none")
        return self.encode(f"{question}{self.frame.tail}{self.prompt.get('answer_prefix', '')}")

    def answer_ids(self, label: str) -> tuple[int, ...]:
        return self.encode(self.prompt["answer"].format(name=label))

    def closing_ids(self, flag: bool) -> tuple[int, ...]:
        """What follows the active task's answer to say whether the user is finishing it."""
        return self.encode(self.prompt["closing"].format(flag=self.prompt.get("yes" if flag else "no", str(flag))))


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
