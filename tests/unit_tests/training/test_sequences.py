"""Packed training sequences: each branch sees exactly the scoring router's per-turn prompt; loss on answers only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from task_router._inference import PromptLayout, ScoringEngine
from task_router._prompting import load_prompt
from task_router.evaluation import load_dataset
from task_router.training import RouterModelConfig, TrainConfig, TreeCollator, encode_record, turn_targets
from task_router.training._sequences import IGNORE_INDEX, attention_mask, record_messages
from task_router.training._trainer import render_card
from tests.conftest import FIXTURES

FIXTURE = FIXTURES / "train_tiny.jsonl"


class NoModel:
    """ScoringEngine only needs a weak-referenceable model object to build prompt ids."""


class CharTokenizer:
    """One id per character: enough for the layout (no chat template, so the default frame is used)."""

    chat_template = None

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) for c in text]}


def layout(window: int = 8, stride: int = 8) -> PromptLayout:
    return PromptLayout(CharTokenizer(), load_prompt("scoring"), window=window, stride=stride)


def text(ids: list[int]) -> str:
    return "".join(map(chr, ids))


@pytest.mark.parametrize(("window", "stride", "n_sequences"), [(8, 8, 1), (4, 2, 2), (2, 2, 3)])
def test_each_branch_sees_the_router_prompt(window: int, stride: int, n_sequences: int) -> None:
    record = load_dataset(FIXTURE)[0]
    lay = layout(window, stride)
    engine = ScoringEngine(model=NoModel(), layout=lay)
    messages, targets = record_messages(record), turn_targets(record)
    sequences = encode_record(lay, record)
    assert len(sequences) == n_sequences
    branches = [(seq, b) for seq in sequences for b in seq.branches]
    assert len(branches) == len(targets)
    for (seq, branch), target in zip(branches, targets, strict=True):
        prompt = engine.prompt_ids(record.catalog(), messages[: target.turn_index + 1], target.active_before)
        answer = list(lay.answer_ids(target.answer))
        if target.closing is not None:
            answer += lay.closing_ids(target.closing)
        assert seq.view(branch) == prompt + answer
        # loss only on the answer tokens of this branch, with the same ids
        labels = seq.labels[branch.start : branch.end]
        assert [x for x in labels if x != IGNORE_INDEX] == answer
        assert labels[: len(labels) - len(answer)] == [IGNORE_INDEX] * (len(labels) - len(answer))
        # positions continue the branch's visible prompt
        assert seq.position_ids[branch.start : branch.end] == list(range(branch.sees, branch.sees + len(labels)))
    assert all(x == IGNORE_INDEX for seq in sequences for x in seq.labels[: seq.trunk])


def test_answers_and_closing_texts() -> None:
    record = load_dataset(FIXTURE)[0]
    seq = encode_record(layout(), record)[0]
    answers = [text([t for t in seq.labels[b.start : b.end] if t != IGNORE_INDEX]) for b in seq.branches]
    assert answers == [
        " Flights.BookFlight\n",
        " Flights.BookFlight\nFinished: no",
        " Weather.GetForecast\n",
        " Weather.GetForecast\nFinished: yes",
    ]


def test_one_sequence_costs_far_less_than_per_turn_prompts() -> None:
    record = load_dataset(FIXTURE)[0]
    seq = encode_record(layout(), record)[0]
    per_turn = sum(len(seq.view(b)) for b in seq.branches)
    assert len(seq) < per_turn / 2


def test_too_long_conversations_say_how_to_fix() -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        encode_record(layout(), load_dataset(FIXTURE)[0], max_tokens=100)


def test_long_sequences_split_but_keep_every_turn() -> None:
    record = load_dataset(FIXTURE)[0]
    full = encode_record(layout(), record)[0]
    capped = encode_record(layout(), record, max_tokens=len(full) - 1)
    assert len(capped) >= 2 and sum(s.n_decisions for s in capped) == full.n_decisions


def test_mask_trunk_causal_branches_isolated() -> None:
    mask = attention_mask(7, 3, [(3, 5, 2), (5, 7, 3)], 8)
    assert mask[:3, :3].tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert mask[3].tolist() == [True, True, False, True, False, False, False, False]  # sees trunk[:2] + itself
    assert mask[6].tolist() == [True, True, True, False, False, True, True, False]  # not the other branch
    assert mask[7].tolist() == [False] * 7 + [True]  # padding sees only itself


def test_collator_pads_a_batch() -> None:
    record = load_dataset(FIXTURE)[2]
    seqs = encode_record(layout(), record) + encode_record(layout(), load_dataset(FIXTURE)[3])
    batch: dict[str, Any] = TreeCollator(pad_token_id=0)([s.to_features() for s in seqs])
    size = max(len(s) for s in seqs)
    assert batch["input_ids"].shape == (2, size)
    assert batch["attention_mask"].shape == (2, 1, size, size)
    assert (batch["labels"][1, len(seqs[1]) :] == IGNORE_INDEX).all()


def test_train_config_defaults_and_errors() -> None:
    config = TrainConfig(data=["d.jsonl"], output_dir="out")
    assert (config.learning_rate, config.gradient_accumulation_steps, config.seed) == (5e-4, 4, 0)  # this trainer's
    assert RouterModelConfig().resolved_quantize(embedded=True) is False  # embedded: bf16 LoRA
    assert RouterModelConfig().resolved_quantize(embedded=False) is True  # other bases: NF4 QLoRA
    assert RouterModelConfig(load_in_4bit=False).resolved_quantize(embedded=False) is False
    assert RouterModelConfig(lora_r=8).lora_alpha == 16  # twice the rank unless given
    with pytest.raises(ValueError, match="--data"):
        TrainConfig(data=[], output_dir="o")
    with pytest.raises(ValueError, match="--out"):
        TrainConfig(data=["d"])
    with pytest.raises(ValueError, match="max_steps"):
        TrainConfig(data=["d"], output_dir="o", max_steps=0)
    with pytest.raises(ValueError, match="max_minutes"):
        TrainConfig(data=["d"], output_dir="o", max_minutes=0)
    with pytest.raises(ValueError, match="load_in_8bit"):
        RouterModelConfig(load_in_8bit=True)


def test_model_card_names_base_data_command_metrics() -> None:
    card = render_card(
        {
            "base": "embedded",
            "quantized": False,
            "command": "task-router train --data x.jsonl --out a",
            "config": {"lora_r": 16, "target_modules": ["q_proj"], "augment": {"copies": 1}, "seed": 0},
            "data": {"files": ["x.jsonl"], "conversations": 4, "decisions": 11},
            "metrics": {"train_loss": 1.23, "peak_rss_mb": 2000.0},
        }
    )
    assert "bf16 + LoRA" in card and "`x.jsonl`" in card and "task-router train --data x.jsonl" in card
    assert "train_loss: 1.23" in card and "decisions: 11" in card


def test_the_card_reads_the_metadata_the_trainer_writes_now() -> None:
    """task_router.json's config: TrainConfig's fields, the LoRA under "model", the augmentation under "augment"."""
    from dataclasses import asdict

    from task_router.training import AugmentConfig

    config = TrainConfig(data=["x.jsonl"], output_dir="a", seed=3)
    saved = {
        **config.to_dict(),
        "model": asdict(RouterModelConfig(lora_r=8, lora_layers=4)),
        "augment": asdict(AugmentConfig(copies=2)),
    }
    card = render_card({"base": "embedded", "quantized": False, "config": json.loads(json.dumps(saved, default=str))})
    assert "LoRA r=8, alpha=16, dropout=0.05, modules q_proj, k_proj" in card and "top 4 layers only" in card
    assert '"copies": 2' in card and "seed 3" in card
