"""`task-router train` parses its options with HfArgumentParser from the trainers' dataclasses (issue 26): the
commands recorded with the two shipped models, parsed today, give the configurations they were trained with."""

from __future__ import annotations

import dataclasses
import json
import shlex
from dataclasses import replace
from types import SimpleNamespace

import pytest
from trl import get_peft_config

from task_router._learned.model import BUILTIN_DIR
from task_router._learned.training.config import LearnedTrainConfig
from task_router.cli._train import _parse
from task_router.models._local import builtin_adapter_dir
from task_router.training import AugmentConfig, RouterModelConfig, TrainConfig
from task_router.training._trainer import TRAINING_META, _top_layers


def test_the_shipped_learned_models_command_parses_to_its_saved_config() -> None:
    meta = json.loads((BUILTIN_DIR / "training.json").read_text(encoding="utf-8"))
    _, config = _parse(shlex.split(meta["command"])[2:], LearnedTrainConfig)
    parsed = json.loads(json.dumps(dataclasses.asdict(config)))
    added = {
        field.name: field.default
        for field in dataclasses.fields(LearnedTrainConfig)
        if field.name not in meta["config"]
    }
    # options added since the model was trained: at their default, ...
    assert added.keys() <= {"close_early_prob", "calibration_split", "data_seed"}
    assert parsed == {**meta["config"], **added}  # ... which trains as the model was trained


def test_the_shipped_adapters_command_parses_to_its_saved_config_and_lora() -> None:
    """Each default in one place: the command recorded with the shipped adapter, parsed by `task-router train`'s
    HfArgumentParser today, gives the config it was trained with and the LoRA config saved beside it."""
    folder = builtin_adapter_dir()
    meta = json.loads((folder / TRAINING_META).read_text(encoding="utf-8"))
    _, config, model, augment = _parse(shlex.split(meta["command"])[2:], TrainConfig, RouterModelConfig, AugmentConfig)
    saved = meta["config"]  # written before TrainingArguments' and ModelConfig's field names
    now = {
        "out": config.output_dir, "data": config.data, "limit": config.limit, "epochs": config.num_train_epochs,
        "max_steps": config.max_steps, "max_minutes": config.max_minutes, "learning_rate": config.learning_rate,
        "lr_scheduler": str(config.lr_scheduler_type.value), "warmup_steps": config.warmup_steps,
        "batch_size": config.per_device_train_batch_size, "grad_accum": config.gradient_accumulation_steps,
        "seed": config.seed, "save_steps": config.save_steps, "save_total_limit": config.save_total_limit,
        "logging_steps": config.logging_steps, "threads": config.threads, "max_tokens": config.max_tokens,
        "prompt": config.prompt, "window": config.window, "stride": config.stride, "resume": config.resume,
        "adapter_dtype": config.adapter_dtype, "gradient_checkpointing": bool(config.activation_checkpointing),
        "base": model.model_name_or_path, "quantize": model.load_in_4bit, "lora_r": model.lora_r,
        "lora_alpha": model.lora_alpha, "lora_dropout": model.lora_dropout, "lora_layers": model.lora_layers,
        "target_modules": model.lora_target_modules,
        "augment": {k: v for k, v in dataclasses.asdict(augment).items() if k in saved["augment"]},
    }  # fmt: skip
    assert now == saved
    embedded = SimpleNamespace(config=SimpleNamespace(num_hidden_layers=30))  # the embedded model's depth
    lora = replace(get_peft_config(model), layers_to_transform=_top_layers(embedded, model.lora_layers))
    adapter = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    for key in ("r", "lora_alpha", "lora_dropout", "layers_to_transform", "bias", "use_rslora", "use_dora"):
        assert getattr(lora, key) == adapter[key], key
    assert set(lora.target_modules) == set(adapter["target_modules"]) and lora.task_type == adapter["task_type"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--data", "a.jsonl", "--data", "b.jsonl", "--out", "x"], ["a.jsonl", "b.jsonl"]),
        (["--data", "a.jsonl", "b.jsonl", "--out", "x"], ["a.jsonl", "b.jsonl"]),
    ],
)
def test_data_files_add_up_however_they_are_given(args: list[str], expected: list[str]) -> None:
    assert _parse(args, TrainConfig, RouterModelConfig, AugmentConfig)[1].data == expected
    assert _parse(args, LearnedTrainConfig)[1].data == expected


def test_options_take_dashes_or_underscores_and_the_old_names() -> None:
    base = ["--data", "a.jsonl", "--out", "x"]
    _, config, model, _ = _parse(
        [*base, "--grad-accum", "2", "--lr", "1e-3", "--epochs", "2", "--base", "hf:/m", "--quantize", "false"],
        TrainConfig, RouterModelConfig, AugmentConfig,
    )  # fmt: skip
    assert (config.gradient_accumulation_steps, config.learning_rate, config.num_train_epochs) == (2, 1e-3, 2.0)
    assert (model.model_name_or_path, model.load_in_4bit, config.output_dir) == ("hf:/m", False, "x")
    _, learned = _parse([*base, "--bi_steps", "7", "--lora-r", "8"], LearnedTrainConfig)
    assert (learned.bi_steps, learned.lora_r, learned.lora_alpha) == (7, 8, 16)


def test_the_quantize_flag_works_alone_or_with_a_value() -> None:
    base = ["--data", "a.jsonl", "--out", "x"]
    assert [
        _parse([*base, *flag], TrainConfig, RouterModelConfig, AugmentConfig)[2].load_in_4bit
        for flag in (["--quantize"], ["--quantize", "false"], [])
    ] == [True, False, None]


@pytest.mark.parametrize(
    ("args", "fix"),
    [
        (["--no-quantize"], "give --quantize false"),
        (["--bnb-4bit-quant-type", "fp4"], "not read by this trainer"),
        (["--resume-from-checkpoint", "x"], "give --resume"),
        (["--router", "learned", "--lr", "1e-3"], "give --bi-learning-rate"),
        (["--router", "learned", "--lora-scale", "2"], "lora_scale must be in"),
        (["--router", "learned", "--threads", "0"], "threads must be >= 1"),
        (["--router", "learned", "--close-early-prob", "1.5"], "close_early_prob is a share"),
    ],
)
def test_options_the_trainers_do_not_read_are_refused_before_any_work(args: list[str], fix: str) -> None:
    from typer.testing import CliRunner

    from task_router.cli import app

    result = CliRunner().invoke(app, ["train", "--data", "missing.jsonl", "--out", "x", *args])
    assert result.exit_code == 2 and fix in result.output, result.output
