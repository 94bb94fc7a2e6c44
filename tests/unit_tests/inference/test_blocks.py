"""Block scoring on a tiny real Llama: one packed pass equals a separate forward after each block."""

from __future__ import annotations

import pytest
import torch

from task_router._inference.forward import block_mask, make_block, score_after_blocks
from tests.unit_tests.inference.tiny_model import tiny_local_model


def test_tiny_model_is_a_real_causal_lm() -> None:
    local = tiny_local_model()
    ids = local.tokenizer("hi")["input_ids"]
    assert local.model(torch.tensor([ids])).logits.shape == (1, 2, 259)


def _separate(model, prompt: list[int], ids: list[int]) -> list[float]:
    with torch.inference_mode():
        logits = model(torch.tensor([prompt + ids])).logits[0].float()
    return [float(torch.log_softmax(logits[len(prompt) - 1 + i], -1)[t]) for i, t in enumerate(ids)]


def test_block_scores_equal_separate_forwards() -> None:
    model = tiny_local_model().model
    prompts = [[10, 20, 30, 40], [50, 60], [70, 80, 90, 100, 110, 120, 130]]  # different lengths
    blocks = [make_block(model, p) for p in prompts]
    ids = [7, 8, 9, 11]
    packed = score_after_blocks(model, blocks, ids)
    for prompt, scores in zip(prompts, packed, strict=True):
        assert scores == pytest.approx(_separate(model, prompt, ids), abs=1e-4)
    # blocks are read, never extended: the same call gives the same scores
    again = score_after_blocks(model, blocks[::-1], ids)[::-1]
    for first, second in zip(packed, again, strict=True):
        assert second == pytest.approx(first, abs=1e-5)
    assert [b.cache.get_seq_length() for b in blocks] == [3, 1, 6]


def test_block_mask_is_block_diagonal() -> None:
    allowed = block_mask([2, 1], 2, torch.float32)[0, 0] == 0
    assert allowed.tolist() == [
        [True, True, False, True, False, False, False],
        [True, True, False, True, True, False, False],
        [False, False, True, False, False, True, False],
        [False, False, True, False, False, True, True],
    ]


def test_blocks_refuse_what_they_cannot_score() -> None:
    model = tiny_local_model().model
    with pytest.raises(ValueError, match="at least two tokens"):
        make_block(model, [5])
    with pytest.raises(ValueError, match="at least one block"):
        score_after_blocks(model, [make_block(model, [5, 6])], [])
