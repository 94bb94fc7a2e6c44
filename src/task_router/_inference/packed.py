"""One forward pass that extends a KV cache with new prompt tokens and scores every candidate answer at once."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any

import torch
from transformers import DynamicCache

from task_router._inference.trie import TokenTrie


@functools.cache
def _cache_argument(model_class: type[Any]) -> str:
    # transformers 5.24 renamed the forward's ``past_key_values`` to ``cache`` (the old name warns, then goes in 5.40)
    return "cache" if "cache" in inspect.signature(model_class.forward).parameters else "past_key_values"


def with_cache(model: Any, cache: DynamicCache) -> dict[str, DynamicCache]:
    """The keyword that hands ``cache`` to ``model``'s forward, under the name its transformers version uses."""
    return {_cache_argument(type(model)): cache}  # type: ignore[arg-type]  # a class is hashable: mypy#11470


def cache_length(cache: DynamicCache | None) -> int:
    return 0 if cache is None else int(cache.get_seq_length())


def crop_to(cache: DynamicCache, length: int) -> None:
    """Drop every cached position from ``length`` on (transformers' ``crop`` takes the number to remove)."""
    extra = cache_length(cache) - length
    if extra < 0:
        raise ValueError(f"cannot crop a cache of {cache_length(cache)} tokens to {length}")
    if extra:
        cache.crop(-extra)


def packed_mask(past: int, n_new: int, trie: TokenTrie, dtype: torch.dtype) -> torch.Tensor:
    """Additive 4D mask (1, 1, q, past + q): new tokens are causal; trie nodes see the prompt and their ancestors."""
    q = n_new + len(trie)
    allowed = torch.zeros(q, past + q, dtype=torch.bool)
    allowed[:, : past + n_new] = True
    allowed[:n_new, past : past + n_new] = torch.ones(n_new, n_new, dtype=torch.bool).tril()
    for node in range(len(trie)):
        allowed[n_new + node, [past + n_new + a for a in trie.ancestors(node)]] = True
    mask = torch.zeros(q, past + q, dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[None, None]


@torch.inference_mode()
def extend_and_score(model: Any, cache: DynamicCache, new_ids: Sequence[int], trie: TokenTrie) -> list[list[float]]:
    """Append ``new_ids`` to ``cache`` and return, per candidate of ``trie``, the log-probability of each token.

    The cache ends holding the prompt extended by ``new_ids`` only (the candidate positions are cropped off), so
    the next call can continue from it. ``new_ids`` must not be empty: its last token predicts the candidates'
    first tokens.
    """
    if not new_ids:
        raise ValueError("extend_and_score needs at least one new token (the question) before the candidates")
    past, n_new = cache_length(cache), len(new_ids)
    input_ids = torch.tensor([list(new_ids) + trie.tokens], dtype=torch.long)
    positions = list(range(past, past + n_new)) + [past + n_new + d for d in trie.depths]
    # Logits are only needed where a next token is scored: the last prompt token and the trie's inner nodes.
    inner = sorted({p for p in trie.parents if p >= 0})
    keep = [n_new - 1] + [n_new + node for node in inner]
    row_of = {-1: 0} | {node: i + 1 for i, node in enumerate(inner)}
    out = model(
        input_ids=input_ids,
        position_ids=torch.tensor([positions], dtype=torch.long),
        attention_mask=packed_mask(past, n_new, trie, model.dtype),
        **with_cache(model, cache),
        use_cache=True,
        logits_to_keep=torch.tensor(keep, dtype=torch.long),
    )
    logprobs = torch.log_softmax(out.logits[0].float(), dim=-1)
    crop_to(cache, past + n_new)
    scores = []
    for path in trie.paths:
        scores.append([float(logprobs[row_of[trie.parents[node]], trie.tokens[node]]) for node in path])
    return scores


@torch.inference_mode()
def prefill(model: Any, ids: Sequence[int], cache: DynamicCache | None = None) -> DynamicCache:
    """Run ``ids`` through the model on top of ``cache`` (a new one if None) and return the extended cache."""
    cache = cache if cache is not None else DynamicCache(config=model.config)
    if ids:
        past = cache_length(cache)
        model(
            input_ids=torch.tensor([list(ids)], dtype=torch.long),
            position_ids=torch.arange(past, past + len(ids))[None],
            **with_cache(model, cache),
            use_cache=True,
            logits_to_keep=1,
        )
    return cache


def copy_cache(cache: DynamicCache, config: Any) -> DynamicCache:
    """An independent copy (later updates of either never show in the other)."""
    return DynamicCache([(layer.keys.clone(), layer.values.clone()) for layer in cache.layers], config=config)


def cache_nbytes(cache: DynamicCache) -> int:
    """Bytes held by the cache's tensors (their storage: a cropped view still holds its full buffer)."""
    total = 0
    for layer in cache.layers:
        for tensor in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if tensor is not None:
                total += tensor.untyped_storage().nbytes()
    return total
