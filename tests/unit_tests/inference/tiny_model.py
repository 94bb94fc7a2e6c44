"""Helpers for the scoring tests: a tiny randomly-initialised Llama (a real model, small enough for unit tests)
and a byte-level tokenizer."""

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


def tiny_local_model(seed: int = 0) -> LocalModel:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=259,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
    )
    model = LlamaForCausalLM(config).eval()
    return LocalModel(model=model, tokenizer=ByteTokenizer(), name="tiny-llama")


def test_tiny_model_is_a_real_causal_lm() -> None:
    local = tiny_local_model()
    ids = local.tokenizer("hi")["input_ids"]
    assert local.model(torch.tensor([ids])).logits.shape == (1, 2, 259)
