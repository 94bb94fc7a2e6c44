"""`Reranker`: a local language model re-ranks the few best tasks of a similarity ranking (noisy channel).

Similarity over task descriptions (MiniLM) finds the right task among its top 5 far more often than at the top
(clinc_dev, 150 tasks: recall@1 0.78, recall@5 0.95). The reranker asks a local causal LM, for each of those
tasks, how likely the user's message is as a request for it: log P(message | task block), averaged per token.
"Channel" scoring reads the message, not a task name, so it needs no training and no name in the prompt to copy.

Each task's block (``prompts/rerank.yaml``: name, description, examples) is prefilled once and cached by its
text, so edited tasks get a new block and a decision only runs the message's tokens, once per candidate, in one
forward pass (:mod:`task_router._inference.blocks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from task_router._catalog import Task, TaskCatalog, readable_name
from task_router._prompting import load_prompt
from task_router._rendering import clip
from task_router.models import ModelSpec
from task_router.models._local import LocalModel

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
        from task_router._inference.blocks import score_after_blocks

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
        from task_router._inference.blocks import make_block

        with model_lock(self.local.model):
            return make_block(self.local.model, self._ids(text))
