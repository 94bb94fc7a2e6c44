"""Score one continuation after many independent prompt blocks in a single forward pass.

Each block (e.g. one task's description) is prefilled once and its KV cache kept. To score a text after k
blocks, their caches are laid side by side and the text is appended k times, each copy attending only to its own
block and causally to itself, with positions that continue its block's. This is exactly k separate forward
passes (a block-diagonal attention mask), in one call, computing only the continuation's tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import DynamicCache

from task_router._inference.packed import prefill, with_cache


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
