"""One-pass scoring: the candidate token trie, the packed KV extension, and scoring after independent blocks.

- :class:`TokenTrie`: a token trie of candidate answers, packed into one sequence that is scored in a single
  forward pass.
- :func:`extend_and_score`: one forward pass that extends a KV cache with new prompt tokens and scores every
  candidate answer at once.
- :func:`score_after_blocks`: score one continuation after many independent prompt blocks in a single forward
  pass. Each block (e.g. one task's description) is prefilled once and its KV cache kept. To score a text after k
  blocks, their caches are laid side by side and the text is appended k times, each copy attending only to its own
  block and causally to itself, with positions that continue its block's. This is exactly k separate forward
  passes (a block-diagonal attention mask), in one call, computing only the continuation's tokens.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache


@dataclass
class TokenTrie:
    """Candidate token sequences merged on their common prefixes.

    Every trie node is one token at one position of the packed sequence; a node attends to the prompt and to its
    ancestors only, so each candidate is read exactly as if it followed the prompt alone, while shared prefixes
    (``Restaurants_1.Find...`` / ``Restaurants_1.Reserve...``) are computed once.

    Example:
        >>> trie = TokenTrie.build([[5, 6], [5, 7], [8]])
        >>> trie.tokens, trie.parents, trie.depths
        ([5, 6, 7, 8], [-1, 0, 0, -1], [0, 1, 1, 0])
        >>> trie.paths
        [[0, 1], [0, 2], [3]]
    """

    tokens: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)  # index of the parent node, -1 for a root
    depths: list[int] = field(default_factory=list)
    paths: list[list[int]] = field(default_factory=list)  # per candidate, the node index of each of its tokens

    @classmethod
    def build(cls, candidates: Sequence[Sequence[int]]) -> TokenTrie:
        trie = cls()
        children: dict[tuple[int, int], int] = {}
        for candidate in candidates:
            if not candidate:
                raise ValueError("a candidate answer tokenized to nothing: give every candidate some text")
            parent, path = -1, []
            for token in candidate:
                key = (parent, int(token))
                node = children.get(key)
                if node is None:
                    node = len(trie.tokens)
                    children[key] = node
                    trie.tokens.append(int(token))
                    trie.parents.append(parent)
                    trie.depths.append(0 if parent < 0 else trie.depths[parent] + 1)
                path.append(node)
                parent = node
            trie.paths.append(path)
        return trie

    def __len__(self) -> int:
        return len(self.tokens)

    def ancestors(self, node: int) -> list[int]:
        """The node and all its ancestors (the trie positions it may attend to)."""
        chain = []
        while node >= 0:
            chain.append(node)
            node = self.parents[node]
        return chain


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


@dataclass(frozen=True)
class Block:
    """A prompt block's KV cache for all its tokens but the last; ``last`` is fed with the continuation, so that
    its logits predict the continuation's first token."""

    cache: DynamicCache
    length: int  # cached tokens
    last: int


def make_block(model: Any, ids: Sequence[int]) -> Block:
    """Prefill a block (at least two tokens)."""
    if len(ids) < 2:
        raise ValueError(f"a prompt block needs at least two tokens, got {len(ids)}: make the prompt longer")
    return Block(prefill(model, ids[:-1]), len(ids) - 1, ids[-1])


def block_mask(lengths: Sequence[int], n_new: int, dtype: torch.dtype) -> torch.Tensor:
    """Additive 4D mask: copy i of the ``n_new`` new tokens sees block i's cached tokens and itself causally."""
    past, k = sum(lengths), len(lengths)
    allowed = torch.zeros(k * n_new, past + k * n_new, dtype=torch.bool)
    causal = torch.ones(n_new, n_new, dtype=torch.bool).tril()
    start = 0
    for i, length in enumerate(lengths):
        rows = slice(i * n_new, (i + 1) * n_new)
        allowed[rows, start : start + length] = True
        allowed[rows, past + i * n_new : past + (i + 1) * n_new] = causal
        start += length
    mask = torch.zeros(allowed.shape, dtype=dtype)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[None, None]


@torch.inference_mode()
def score_after_blocks(model: Any, blocks: Sequence[Block], ids: Sequence[int]) -> list[list[float]]:
    """Per block, the log-probability of each token of ``ids`` when it follows that block."""
    if not blocks or not ids:
        raise ValueError("score_after_blocks needs at least one block and one token to score")
    lengths = [block.length for block in blocks]
    layers = zip(*(block.cache.layers for block in blocks), strict=True)  # per layer, every block's
    cache = DynamicCache(
        [(torch.cat([b.keys for b in layer], dim=2), torch.cat([b.values for b in layer], dim=2)) for layer in layers],
        config=model.config,
    )
    n_new = len(ids) + 1  # the block's last token, then the continuation
    input_ids = [token for block in blocks for token in (block.last, *ids)]
    positions = [block.length + j for block in blocks for j in range(n_new)]
    keep = [i * n_new + j for i in range(len(blocks)) for j in range(len(ids))]
    out = model(
        input_ids=torch.tensor([input_ids], dtype=torch.long),
        position_ids=torch.tensor([positions], dtype=torch.long),
        attention_mask=block_mask(lengths, n_new, model.dtype),
        **with_cache(model, cache),
        use_cache=True,
        logits_to_keep=torch.tensor(keep, dtype=torch.long),
    )
    logprobs = torch.log_softmax(out.logits[0].float(), dim=-1)
    targets = torch.tensor(list(ids) * len(blocks), dtype=torch.long)
    picked = logprobs[torch.arange(len(keep)), targets].view(len(blocks), len(ids))
    return picked.tolist()
