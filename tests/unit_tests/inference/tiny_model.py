"""Helpers for the scoring tests: a tiny randomly-initialised Llama (a real model, small enough for unit tests)
and a byte-level tokenizer. ``tiny_llama`` builds the model alone, for other tests that bring their own tokenizer."""

from __future__ import annotations

from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from task_router.models._local import LocalModel


class ByteTokenizer:
    """Token id = byte value + 3 (0-2 reserved); no chat template."""

    chat_template = None

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, Any]:
        return {"input_ids": [b + 3 for b in text.encode("utf-8")]}


def tiny_llama(
    vocab_size: int, *, hidden_size: int = 32, num_hidden_layers: int = 2, seed: int = 0, **config: Any
) -> LlamaForCausalLM:
    """A randomly-initialised Llama in eval mode, the same for the same arguments: heads of 8 dimensions (two of
    them for keys and values), an MLP twice the hidden size; ``config`` sets any other LlamaConfig field."""
    torch.manual_seed(seed)
    return LlamaForCausalLM(
        LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=hidden_size,
            intermediate_size=2 * hidden_size,
            num_hidden_layers=num_hidden_layers,
            num_attention_heads=hidden_size // 8,
            num_key_value_heads=2,
            **config,
        )
    ).eval()


def tiny_local_model(seed: int = 0) -> LocalModel:
    model = tiny_llama(259, seed=seed, max_position_embeddings=4096)
    return LocalModel(model=model, tokenizer=ByteTokenizer(), name="tiny-llama")
