"""Narrowing a turn to the few best tasks: the shortlist before any router kind, and the reranker of the best few.

Shortlist retrieval: before any router kind, keep only the top-k tasks for the conversation. Large catalogues
(hundreds of tasks) do not fit a small model's prompt, and every extra candidate costs scoring time.
:class:`Shortlist` wraps any router: per turn it ranks the catalogue with all-MiniLM-L6-v2 (the embedding router's
encoder and per-text vector cache, so the model is loaded once and an edited catalogue only embeds its new or
changed tasks), keeps the ``k`` best tasks plus the active task and any pinned tasks, and lets the wrapped router
decide over that sub-catalogue. The decision is checked against the full catalogue as usual.

:class:`Reranker`: a local language model re-ranks the few best tasks of a similarity ranking (noisy channel).
Similarity over task descriptions (MiniLM) finds the right task among its top 5 far more often than at the top
(clinc_dev, 150 tasks: recall@1 0.78, recall@5 0.95). The reranker asks a local causal LM, for each of those
tasks, how likely the user's message is as a request for it: log P(message | task block), averaged per token.
"Channel" scoring reads the message, not a task name, so it needs no training and no name in the prompt to copy.

Each task's block (``prompts/rerank.yaml``: name, description, examples) is prefilled once and cached by its
text, so edited tasks get a new block and a decision only runs the message's tokens, once per candidate, in one
forward pass (:mod:`task_router._inference.forward`).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any, Protocol, cast

from langchain_core.runnables import RunnableConfig

from task_router._budget import Offload, Plan
from task_router._catalog import NONE_LABEL, Task, TaskCatalog, readable_name
from task_router._prompting import clip, load_prompt
from task_router._router_input import RoutingInput
from task_router.models import ModelSpec
from task_router.models._local import LocalModel
from task_router.routers._base import Prediction, Router
from task_router.routers._compose import RouterWrapper

_SUB_CATALOGS = 256  # distinct sub-catalogues kept (their per-version caches: prompts, schemas, KV prefixes)


class TaskRanker(Protocol):
    """Anything that orders a catalogue's tasks for a turn, best first: :class:`TaskRetriever` (untrained MiniLM),
    or :class:`~task_router.routers.LearnedRouter` (its trained bi-encoder)."""

    def rank(self, routing: RoutingInput) -> list[str]: ...


class _Prefills(Protocol):
    """A router with a conversation-cache ``prefill`` (an optional capability: the scoring router has it)."""

    def prefill(self, input: dict[str, Any], config: RunnableConfig | None = None) -> int: ...


class TaskRetriever:
    """Ranks a catalogue's tasks for a conversation by embedding similarity (no LLM).

    ``window`` is how many messages before the user's latest one are mixed into the query (with weight
    ``context_weight``). Reuses an :class:`~task_router.routers.EmbeddingRouter`'s encoder and caches;
    give ``embedder`` to share one (e.g. the cheap stage of a cascade), else one is built over the shared model.

    Example:
        >>> from task_router import TaskCatalog
        >>> from task_router._router_input import coerce_input
        >>> retriever = TaskRetriever()  # doctest: +SKIP
        >>> routing = coerce_input({"messages": ["recap my call"], "catalog": TaskCatalog.demo()})  # doctest: +SKIP
        >>> retriever.rank(routing)[:2]  # doctest: +SKIP
        ['meeting_recap', 'follow_up_email']
    """

    def __init__(
        self, embedder: Any = None, *, window: int = 1, context_weight: float = 0.3, encoder: Any = None
    ) -> None:
        from task_router.routers._embedding import EmbeddingRouter

        if window < 0 or context_weight < 0:
            raise ValueError("window and context_weight must be >= 0 (window 0 reads only the latest user message)")
        if embedder is None:
            embedder = EmbeddingRouter(
                encoder=encoder, context_window=window, context_weight=context_weight, closing_phrases=()
            )
        elif not isinstance(embedder, EmbeddingRouter):
            raise ValueError(f"embedder must be an EmbeddingRouter, got {type(embedder).__name__}")
        self.embedder = embedder
        self.window, self.context_weight = window, context_weight

    def scores(self, routing: RoutingInput) -> dict[str, float]:
        """Best cosine similarity of each task (name + description + examples) to the conversation."""
        return self.embedder.similarities(routing, window=self.window, weight=self.context_weight)[0]

    def rank(self, routing: RoutingInput) -> list[str]:
        """Task names, most similar first."""
        scores = self.scores(routing)
        return sorted(scores, key=lambda name: -scores[name])


class Shortlist(RouterWrapper):
    """Wraps a router so that it only sees the ``k`` tasks most similar to the conversation.

    The active task and ``pinned`` tasks are always kept (on top of the ``k``); the sub-catalogue keeps the
    catalogue's order, so the same shortlist gives the same prompt (and reuses its caches). Catalogues with no
    more than ``k`` tasks pass through unchanged. The decision names a task of the full catalogue, or none.
    ``router`` / ``model`` in the decision are the wrapped router's.

    Example:
        >>> from task_router import TaskCatalog, make_router
        >>> router = make_router("scoring", model="embedded", shortlist=10)  # doctest: +SKIP
        >>> # or: Shortlist(make_router("scoring", model="embedded"), k=10, window=2, pinned=["support"])
        >>> # or ranked by the trained bi-encoder: Shortlist(..., k=4, retriever=make_router("learned"))
        >>> router.invoke({"messages": [{"role": "user", "content": "what's my routing number"}],
        ...                "catalog": TaskCatalog.demo()})  # doctest: +SKIP
    """

    def __init__(
        self,
        router: Router,
        *,
        k: int = 10,
        window: int = 1,
        pinned: Sequence[str] = (),
        retriever: TaskRanker | None = None,
        catalog: TaskCatalog | None = None,
    ) -> None:
        if k < 1:
            raise ValueError(f"shortlist k must be at least 1 (got {k}); use no shortlist to read every task")
        super().__init__(router, catalog=catalog)
        self.k = k
        self.pinned = tuple(pinned)
        self.retriever = retriever or TaskRetriever(_shared_embedder(router), window=window)
        self._subs = lru_cache(maxsize=_SUB_CATALOGS)(_sub_catalog)
        # thread id -> its last shortlist, the thread that decided least recently first (and dropped first)
        self._last: OrderedDict[Any, tuple[str, ...]] = OrderedDict()
        self._last_lock = threading.Lock()

    def warm(self, catalog: TaskCatalog | None = None) -> None:
        super().warm(catalog)
        if hasattr(self.retriever, "warm"):
            self.retriever.warm(catalog or self.catalog)

    def select(self, routing: RoutingInput) -> list[str]:
        """The shortlisted task names, in catalogue order."""
        catalog = routing.catalog
        keep = {name for name in (routing.active_task, *self.pinned) if name and name in catalog}
        if len(catalog) <= self.k + len(keep):
            return catalog.names
        keep.update(self.retriever.rank(routing)[: self.k])
        return [name for name in catalog.names if name in keep]

    def sub_catalog(self, catalog: TaskCatalog, names: Sequence[str]) -> TaskCatalog:
        """A read-only view of ``names`` from ``catalog``; the same set gives the same object (and caches)."""
        if len(names) == len(catalog):
            return catalog
        return self._subs(weakref.ref(catalog), catalog.version, tuple(names))

    def __getattr__(self, name: str) -> Any:
        # The wrapped router's prefill would cache the conversation after the *full* catalogue, a prompt no decision
        # of this wrapper reads: prefill after the tasks this thread's last decision was shortlisted to instead.
        if name == "prefill":
            if not hasattr(self.router, "prefill"):
                raise AttributeError(name)
            return self._prefill_shortlisted
        return super().__getattr__(name)

    def _prefill_shortlisted(self, input: dict[str, Any], config: RunnableConfig | None = None) -> int:
        thread_id = ((config or {}).get("configurable") or {}).get("thread_id")
        with self._last_lock:
            last = self._last.get(thread_id)
        catalog = input.get("catalog", self.catalog) if isinstance(input, dict) else self.catalog
        if last is None or catalog is None or not all(name in catalog for name in last):
            return 0  # no decision yet in this thread (or its tasks changed): nothing worth caching
        # only reached through __getattr__, once it checked that the wrapped router has a prefill
        prefills = cast(_Prefills, self.router)
        return prefills.prefill({**input, "catalog": self.sub_catalog(catalog, last)}, config)

    def plan(self, routing: RoutingInput, config: RunnableConfig) -> Plan[Prediction]:
        names = yield Offload(self.select, routing)  # an encoder forward: off the event loop in async
        thread_id = (config.get("configurable") or {}).get("thread_id")
        if thread_id is not None:
            with self._last_lock:
                self._last[thread_id] = tuple(names)
                self._last.move_to_end(thread_id)
                if len(self._last) > _SUB_CATALOGS:
                    self._last.popitem(last=False)
        sub = RoutingInput(routing.messages, routing.active_task, self.sub_catalog(routing.catalog, names))
        prediction = yield from self.router.plan(sub, config)
        if len(names) == len(routing.catalog):
            return prediction
        note = f"shortlist {len(names)}/{len(routing.catalog)}"
        return replace(prediction, rationale=f"{note}; {prediction.rationale}" if prediction.rationale else note)


def _sub_catalog(catalog: weakref.ref[TaskCatalog], version: int, names: tuple[str, ...]) -> TaskCatalog:
    """``names`` of ``catalog`` (at ``version``) as a catalogue of their own. Memoised per :class:`Shortlist`, with a
    weak reference to the catalogue in the key: the cache keeps no old catalogue alive, and a new catalogue is never
    taken for a dead one whose id it reuses."""
    source = catalog()
    assert source is not None, "the caller holds the catalogue"
    return TaskCatalog(source[name] for name in names)


def _shared_embedder(router: Router | None) -> Any:
    """An embedding router already inside ``router`` (itself, or a cascade's cheap stage), to share its caches."""
    from task_router.routers._embedding import EmbeddingRouter

    while router is not None:
        for candidate in (router, getattr(router, "cheap", None)):
            if isinstance(candidate, EmbeddingRouter):
                return candidate
        router = getattr(router, "router", None)  # through wrappers (Abstain, Shortlist)
    return None


def recall_at_k(ranked: Sequence[Sequence[str]], gold: Sequence[str], ks: Sequence[int]) -> dict[int, float]:
    """Share of turns whose gold task is among the first k ranked tasks, for each k (gold NONE turns skipped).

    Example:
        >>> recall_at_k([["a", "b"], ["b", "a"]], ["a", "a"], [1, 2])
        {1: 0.5, 2: 1.0}
    """
    pairs = [(r, g) for r, g in zip(ranked, gold, strict=True) if g and g != NONE_LABEL]
    if not pairs:
        raise ValueError("no turn with a gold task: recall@k needs turns labelled with a catalogue task")
    return {k: sum(g in r[:k] for r, g in pairs) / len(pairs) for k in ks}


PROMPT_KEYS = ("task", "example", "request_prefix", "request")


class Reranker:
    """Re-ranks the ``k`` most similar tasks by a local LM's likelihood of the user's message under each.

    :meth:`rerank` moves each of the top-``k`` similarities by ``weight`` times its log-likelihood (nats per
    token) minus the mean over the ``k``: the order can change, the scale of the similarities stays, so
    thresholds on them keep their meaning. ``weight=0.1`` was chosen on a coarse grid (0.05, 0.1, 0.2) on
    clinc_dev; see benchmarks/RESULTS.md. ``model``: ``"embedded"``, ``"hf:<dir>"``, ``"qlora:<dir>"``, a
    ChatHuggingFace over a transformers pipeline, or a loaded :class:`~task_router.models._local.LocalModel`.

    Example:
        >>> from task_router import TaskCatalog, make_router
        >>> router = make_router("embedding", rerank="embedded", catalog=TaskCatalog.demo())  # doctest: +SKIP
        >>> turn = {"messages": [{"role": "user", "content": "Recap this morning's call"}]}
        >>> router.invoke(turn).task  # doctest: +SKIP
        'meeting_recap'
    """

    def __init__(
        self,
        model: ModelSpec | LocalModel = "embedded",
        *,
        k: int = 5,
        weight: float = 0.1,
        max_request_chars: int = 300,
        max_blocks: int = 512,
        prompt: str = "rerank.yaml",
    ) -> None:
        from task_router.models import resolve_local_model

        if k < 2:
            raise ValueError(f"the reranker orders at least 2 tasks (got k={k}); use no reranker for the top 1")
        if weight < 0 or max_request_chars < 1 or max_blocks < k:
            raise ValueError("weight must be >= 0, max_request_chars >= 1 and max_blocks >= k")
        self.local, self.model_label = resolve_local_model(
            model, user="the reranker", otherwise="no reranker (the embedding router alone)"
        )
        self.k, self.weight = k, weight
        self.max_request_chars, self.max_blocks = max_request_chars, max_blocks
        self.prompt = load_prompt(prompt, required=PROMPT_KEYS)
        # block text -> its prefilled block, the least recently used dropped first; a missing block is built outside
        # the cache's lock (two threads missing the same text at once may both build it, under the model lock)
        self._block_of_text = lru_cache(maxsize=max_blocks)(self._make_block)

    def block_text(self, task: Task) -> str:
        p = self.prompt
        head = p["task"].format(name=readable_name(task), description=clip(task.description, 1000))
        examples = "".join(p["example"].format(text=clip(e, 300)) for e in task.examples[:8])
        return head + examples + p["request_prefix"]

    def logliks(self, tasks: Sequence[Task], text: str) -> list[float]:
        """Per task, the mean log-probability of the tokens of ``text`` as a request for it."""
        from task_router._inference import model_lock
        from task_router._inference.forward import score_after_blocks

        request = self.prompt["request"].format(text=clip(text, self.max_request_chars))
        ids = self._ids(request)
        blocks = [self._block(task) for task in tasks]
        with model_lock(self.local.model):
            scores = score_after_blocks(self.local.model, blocks, ids)
        return [sum(s) / len(s) for s in scores]

    def rerank(self, scores: dict[str, float], catalog: TaskCatalog, text: str) -> dict[str, float]:
        """``scores`` (task name -> similarity) with its top ``k`` moved by the model's likelihoods."""
        top = sorted(scores, key=lambda name: -scores[name])[: self.k]
        if len(top) < 2:
            return scores
        logliks = self.logliks([catalog[name] for name in top], text)
        mean = sum(logliks) / len(logliks)
        moved = dict(scores)
        for name, value in zip(top, logliks, strict=True):
            moved[name] = scores[name] + self.weight * (value - mean)
        return moved

    def warm(self, catalog: TaskCatalog) -> None:
        """Prefill every task's block now (e.g. at start-up), not on the first turn that needs it."""
        for task in catalog.tasks[: self.max_blocks]:
            self._block(task)

    def _ids(self, text: str) -> list[int]:
        return list(self.local.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _block(self, task: Task) -> Any:
        return self._block_of_text(self.block_text(task))

    def _make_block(self, text: str) -> Any:
        from task_router._inference import model_lock
        from task_router._inference.forward import make_block

        with model_lock(self.local.model):
            return make_block(self.local.model, self._ids(text))
