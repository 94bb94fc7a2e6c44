"""`task-router train`: LoRA / QLoRA on the scoring router's decisions with the transformers Trainer: the
training configuration, the loss, the progress display, the adapter's model card and the training loop.

The scoring router's training configuration, in the manner of TRL: :class:`TrainConfig` is transformers'
``TrainingArguments`` with this trainer's defaults (as TRL's ``SFTConfig``), :class:`RouterModelConfig` is TRL's
``ModelConfig`` (the base model and its LoRA). ``task-router train`` parses both, and
:class:`~task_router.training.AugmentConfig`, with ``HfArgumentParser``: each default lives in its field.

:class:`DecisionTrainer` is the transformers Trainer with the loss computed only where a decision token is
predicted. :class:`RichProgressCallback` is a rich progress bar and loss log for the Trainer, and
:class:`TimeBudgetCallback` stops a run at its time budget (the learned router's training uses both). The adapter
folder gets a model card (README.md) and machine-readable metadata (task_router.json): :func:`write_card`,
:func:`write_metadata`.
"""

from __future__ import annotations

import copy
import json
import logging
import resource
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import SchedulerType, Trainer, TrainerCallback, TrainingArguments
from trl import ModelConfig

from task_router.models._local import TRAINING_META, load_base
from task_router.training._augment import AugmentConfig
from task_router.training._data import build_dataset, load_training_records
from task_router.training._sequences import IGNORE_INDEX, TreeCollator

logger = logging.getLogger("task_router")


@dataclass(frozen=True)
class TrainResult:
    out: Path
    metrics: dict[str, Any]
    meta: dict[str, Any]


def resolve_base_spec(base: str) -> tuple[Path, str, bool]:
    """(model folder, name to record as the adapter's base, is it the embedded model) for ``--base``.

    Accepted: ``embedded``, ``hf:<dir>`` or a local model folder. Models are never downloaded.
    """
    from task_router.models._local import embedded_model_dir

    if base == "embedded":
        return embedded_model_dir(), "embedded", True
    path = Path(base[3:] if base.startswith("hf:") else base).expanduser()
    if not (path / "config.json").is_file():
        raise ValueError(
            f"--base {base!r} is not a local model folder (no config.json): use 'embedded', 'hf:<model dir>' or a "
            "folder saved with save_pretrained (models are not downloaded)"
        )
    resolved = path.resolve()
    return resolved, str(resolved), resolved == embedded_model_dir().resolve()


def disable_cpu_inference_repack(model: Any) -> int:
    """bitsandbytes on CPU rewrites ``Linear4bit`` weights into an inference-only format on any eval-mode forward,
    after which most LoRA tensors silently get no gradient. Turning that path off on every 4-bit
    layer keeps training correct. Returns the number of layers changed."""
    try:
        import bitsandbytes as bnb
    except ImportError:
        return 0
    count = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
            count += 1
    return count


def train(
    config: TrainConfig,
    model_config: RouterModelConfig | None = None,
    augment: AugmentConfig | None = None,
    *,
    command: str = "",
    console: Console | None = None,
) -> TrainResult:
    """Train a LoRA adapter for the scoring router and write it, with its model card, to ``config.output_dir``.

    Args:
        config: the training arguments (transformers' ``TrainingArguments`` with this trainer's defaults) and data.
        model_config: the base model and its LoRA (TRL's ``ModelConfig``; default: the embedded model).
        augment: how the training conversations are varied (default: :class:`AugmentConfig`'s).
        command: the command line that ran this, written to the model card.
        console: where progress goes.

    Returns:
        The adapter folder, the training metrics and the metadata saved as ``task_router.json``.

    Example:
        >>> config = TrainConfig(data=["tests/fixtures/train_tiny.jsonl"], output_dir="/tmp/adapter", max_steps=2)
        >>> train(config).metrics["steps"]  # doctest: +SKIP
        2
    """
    import torch
    from peft import get_peft_model
    from transformers import AutoTokenizer, PrinterCallback, set_seed
    from trl import get_peft_config

    from task_router._inference import PromptLayout
    from task_router._prompting import load_prompt
    from task_router.models._cpu import peft_quietly

    console = console or Console()
    model_config = model_config or RouterModelConfig()
    augment = augment or AugmentConfig()
    started = time.perf_counter()
    if config.threads:
        torch.set_num_threads(config.threads)
    set_seed(config.seed)
    base_dir, base_name, embedded = resolve_base_spec(str(model_config.model_name_or_path))
    quantize = model_config.resolved_quantize(embedded=embedded)
    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    layout = PromptLayout(tokenizer, load_prompt(config.prompt), window=config.window, stride=config.stride)
    records = load_training_records(
        config.data, limit=config.limit, augment=augment, seed=config.seed, examples_prob=config.examples_prob
    )
    dataset, stats = build_dataset(layout, records, max_tokens=config.max_tokens)
    console.print(
        f"data: {stats.conversations} conversations -> {stats.sequences} sequences, {stats.decisions} decisions, "
        f"{stats.tokens} tokens ({stats.answer_tokens} with loss)"
    )

    model = load_base(base_dir, quantize=quantize, gradient_checkpointing=bool(config.activation_checkpointing))
    lora = replace(get_peft_config(model_config), layers_to_transform=_top_layers(model, model_config.lora_layers))
    with peft_quietly():
        model = get_peft_model(model, lora)
    if quantize:
        console.print(f"4-bit NF4 base: CPU inference repack disabled on {disable_cpu_inference_repack(model)} layers")
    trainable, total = model.get_nb_trainable_parameters()
    console.print(f"base {base_name} ({'NF4' if quantize else 'bf16'}), LoRA trainable {trainable:,} / {total:,}")

    args = copy.copy(config)  # the adapter goes to output_dir, the Trainer's checkpoints below it
    args.output_dir = str(config.checkpoint_dir)
    budget = TimeBudgetCallback(config.max_minutes) if config.max_minutes else None
    trainer = DecisionTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=TreeCollator(pad_token_id=int(tokenizer.pad_token_id)),
        callbacks=[RichProgressCallback(console), *([budget] if budget else [])],
    )
    trainer.remove_callback(PrinterCallback)  # RichProgressCallback prints each logged loss already
    resume = config.resume and any(config.checkpoint_dir.glob("checkpoint-*"))
    if config.resume and not resume:
        console.print(f"[yellow]--resume: no checkpoint in {config.checkpoint_dir}, starting from scratch[/]")
    output = trainer.train(resume_from_checkpoint=True if resume else None)

    save_adapter(model, out, base_name=base_name, dtype=config.adapter_dtype)
    elapsed = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    metrics = {
        "train_loss": round(float(output.training_loss), 4),
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
        "steps": int(trainer.state.global_step),
        "epochs": round(float(trainer.state.epoch or 0.0), 3),
        "train_runtime_s": round(float(output.metrics.get("train_runtime", 0.0)), 1),
        "wall_time_s": round(elapsed, 1),
        "cpu_time_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "torch_threads": torch.get_num_threads(),
        "resumed": bool(resume),
        "stopped_by_time_budget": bool(budget and budget.stopped_early),
    }
    meta = {
        "quantized": quantize,
        "base": base_name,
        "command": command,
        "config": {**config.to_dict(), "model": asdict(model_config), "augment": asdict(augment)},
        "data": {"files": list(config.data), **stats.as_dict()},
        "metrics": metrics,
        "adapter_mb": round(sum(p.stat().st_size for p in out.glob("adapter_model.*")) / 1e6, 2),
    }
    write_metadata(out, meta)
    write_card(out, meta)
    console.print(f"adapter written to {out}: {json.dumps(metrics)}")
    return TrainResult(out, metrics, meta)


def _top_layers(model: Any, count: int | None) -> list[int] | None:
    """The indexes of the last ``count`` transformer layers (LoRA there only: the backward pass stops below)."""
    if count is None:
        return None
    total = int(model.config.num_hidden_layers)
    if not 1 <= count <= total:
        raise ValueError(f"lora_layers must be between 1 and the model's {total} layers, got {count}")
    return list(range(total - count, total))


def save_adapter(model: Any, out: Path, *, base_name: str, dtype: str = "bfloat16") -> None:
    """Save the LoRA weights (cast to ``dtype``) with ``base_model_name_or_path`` set to ``base_name``, which
    ``qlora:`` loading resolves (``embedded`` or a local folder)."""
    import torch

    if dtype == "bfloat16":
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.data = param.data.to(torch.bfloat16)
    model.save_pretrained(out)
    config_file = out / "adapter_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = base_name
    config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


# All attention and MLP projections of Llama-style models (SmolLM2 included).
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# TRL's ModelConfig fields that this trainer does not read (the base loads in bf16, or NF4 with --load-in-4bit)
_NOT_READ = {
    "model_revision": "give a local folder of the revision you want (models are never downloaded)",
    "dtype": "the base loads in bf16 (or 4-bit NF4 with --load-in-4bit)",
    "attn_implementation": "the base loads with transformers' default attention",
    "bnb_4bit_quant_type": "4-bit bases are NF4",
    "use_bnb_nested_quant": "4-bit bases are not nested-quantized",
    "bnb_4bit_quant_storage": "4-bit bases use bitsandbytes' default storage",
}
_MODEL_CONFIG_DEFAULTS = {f.name: f.default for f in fields(ModelConfig)}


@dataclass(kw_only=True)
class RouterModelConfig(ModelConfig):
    """TRL's ``ModelConfig`` with this trainer's defaults: the embedded model, LoRA on every projection, and 4-bit
    NF4 (QLoRA) decided by the base.

    ``load_in_4bit``: None picks 4-bit NF4 for other bases and plain LoRA for the embedded model, whose weights
    are already 4-bit (GGUF Q4_1) and do not survive a second quantization (measured: NF4 agrees with the bf16
    model's top prediction only 51% of the time). ``lora_layers`` adds PEFT's ``layers_to_transform``.

    Example:
        >>> config = RouterModelConfig()
        >>> config.resolved_quantize(embedded=True), config.resolved_quantize(embedded=False)
        (False, True)
        >>> config.lora_r, config.lora_alpha, config.lora_target_modules[:2]
        (16, 32, ['q_proj', 'k_proj'])
    """

    model_name_or_path: str | None = field(
        default="embedded",
        metadata={
            "help": "Base model: embedded, hf:<dir> or a local model folder (never downloaded).",
            "aliases": ["--base"],
        },
    )
    load_in_4bit: bool | None = field(  # None: decided by the base
        default=None,
        metadata={
            "help": "4-bit NF4 base (QLoRA). Default: yes for other bases, no for the embedded model (already 4-bit).",
            "aliases": ["--quantize"],
            "nargs": "?",
            "const": True,
        },
    )
    use_peft: bool = True
    lora_alpha: int | None = field(default=None, metadata={"help": "LoRA alpha (default: twice lora_r)."})
    lora_target_modules: list[str] | None = field(default_factory=lambda: list(DEFAULT_TARGET_MODULES))
    lora_layers: int | None = field(
        default=None, metadata={"help": "LoRA on the top N layers only (faster: no backward below them)."}
    )

    def __post_init__(self) -> None:
        if not self.model_name_or_path:
            raise ValueError("give the base model: --base embedded, hf:<dir> or a local model folder")
        if self.lora_r < 1:
            raise ValueError(f"lora_r must be >= 1, got {self.lora_r}")
        if not self.use_peft:
            raise ValueError("use_peft must be True: this trainer trains a LoRA adapter")
        if self.load_in_8bit:
            raise ValueError("load_in_8bit is not supported: use --load-in-4bit (QLoRA) or plain LoRA")
        if self.lora_alpha is None:
            self.lora_alpha = 2 * self.lora_r
        for name, instead in _NOT_READ.items():
            if getattr(self, name) != _MODEL_CONFIG_DEFAULTS[name]:
                raise ValueError(f"{name} is not read by this trainer: {instead}")
        super().__post_init__()

    def resolved_quantize(self, *, embedded: bool) -> bool:
        return (not embedded) if self.load_in_4bit is None else bool(self.load_in_4bit)


@dataclass(kw_only=True)
class TrainConfig(TrainingArguments):
    """How the scoring router's LoRA adapter is trained: ``TrainingArguments`` (``max_steps``, ``num_train_epochs``,
    ``learning_rate``, ``lr_scheduler_type``, ``warmup_steps``, ``gradient_accumulation_steps``, ``save_steps``,
    ``seed``, ...) with this trainer's defaults, plus the data and the prompt layout it trains on. ``output_dir`` is
    the adapter folder (``--out``); the trainer's checkpoints go to its ``checkpoints/`` folder. Saved in the
    adapter's ``task_router.json`` with the command that made it.

    Example:
        >>> config = TrainConfig(data=["train.jsonl.gz"], output_dir="adapters/router", max_steps=10)
        >>> config.learning_rate, config.gradient_accumulation_steps, str(config.checkpoint_dir)
        (0.0005, 4, 'adapters/router/checkpoints')
    """

    output_dir: str | None = field(
        default=None,
        metadata={"help": "Adapter folder to write; use it as qlora:<folder>.", "aliases": ["--out", "-o"]},
    )
    data: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Benchmark-format data (.jsonl / .jsonl.gz files); repeatable.",
            "action": "extend",
            "aliases": ["-d"],
        },
    )
    limit: int | None = field(default=None, metadata={"help": "First N conversations per file.", "aliases": ["-n"]})
    max_minutes: float | None = field(
        default=None, metadata={"help": "Wall-time budget: stop and save the adapter when it is spent."}
    )
    examples_prob: float = field(
        default=0.0, metadata={"help": "Share of conversations whose tasks get example requests from other ones."}
    )
    max_tokens: int = field(default=4096, metadata={"help": "Longest packed sequence, in tokens."})
    prompt: str = field(
        default="scoring", metadata={"help": "The scoring router's prompt file, whose layout is taught."}
    )
    window: int = field(default=8, metadata={"help": "Messages shown per decision (the scoring router's default)."})
    stride: int = field(default=8, metadata={"help": "Conversation window stride (the scoring router's default)."})
    resume: bool = field(default=False, metadata={"help": "Continue from the adapter folder's checkpoints."})
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads (default: torch's choice)."})
    adapter_dtype: str = field(
        default="bfloat16", metadata={"help": "Saved adapter weights: bfloat16 (half the file) or float32."}
    )
    # TrainingArguments' fields with this trainer's defaults
    num_train_epochs: float = field(
        default=1.0, metadata={"help": "Passes over the (augmented) data.", "aliases": ["--epochs"]}
    )
    learning_rate: float = field(default=5e-4, metadata={"help": "Learning rate.", "aliases": ["--lr"]})
    lr_scheduler_type: SchedulerType | str = field(
        default="cosine",
        metadata={
            "help": "transformers scheduler: cosine, linear, constant_with_warmup...",
            "aliases": ["--lr-scheduler"],
        },
    )
    warmup_steps: float = field(default=10, metadata={"help": "Linear warm-up steps."})
    per_device_train_batch_size: int = field(default=1, metadata={"help": "Packed sequences per forward."})
    gradient_accumulation_steps: int = field(
        default=4, metadata={"help": "Forwards per optimizer step.", "aliases": ["--grad-accum"]}
    )
    seed: int = field(default=0, metadata={"help": "Seed of augmentation, LoRA init and data order."})
    save_steps: float = field(default=50, metadata={"help": "Checkpoint every N steps."})
    save_total_limit: int | None = 2
    logging_steps: float = 5
    use_cpu: bool = True
    disable_tqdm: bool | None = True  # RichProgressCallback shows the progress
    remove_unused_columns: bool = False  # the collator reads the tree masks' columns

    def __post_init__(self) -> None:
        if not self.output_dir:
            raise ValueError("give the adapter folder to write: --out DIR")
        if not self.data:
            raise ValueError("no training data: give --data PATH (a benchmark .jsonl / .jsonl.gz file)")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"max_steps must be a positive number of steps (or -1 for epochs), got {self.max_steps}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be > 0 (a wall-time budget), got {self.max_minutes}")
        if self.num_train_epochs <= 0:
            raise ValueError(f"num_train_epochs must be > 0, got {self.num_train_epochs}")
        if self.per_device_train_batch_size < 1 or self.gradient_accumulation_steps < 1:
            raise ValueError("per_device_train_batch_size and gradient_accumulation_steps must be at least 1")
        if self.resume_from_checkpoint is not None:
            raise ValueError(
                "resume_from_checkpoint is not read by this trainer: give --resume (its checkpoints/ folder)"
            )
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 (or left out: torch's choice), got {self.threads}")
        if self.adapter_dtype not in ("bfloat16", "float32"):
            raise ValueError(f"adapter_dtype must be 'bfloat16' or 'float32', got {self.adapter_dtype!r}")
        # (mypy does not follow transformers here, so it cannot type these two TrainingArguments fields)
        if self.data_seed is None:  # type: ignore[has-type]
            self.data_seed = self.seed
        if self.activation_checkpointing and self.activation_checkpointing_kwargs is None:  # type: ignore[has-type]
            self.activation_checkpointing_kwargs = {"use_reentrant": False}
        super().__post_init__()

    @property
    def out_dir(self) -> Path:
        return Path(str(self.output_dir)).expanduser()

    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / "checkpoints"


class DecisionTrainer(Trainer):
    """A ``Trainer`` whose model computes logits only at the positions that predict a labelled (decision) token.

    The output layer (576 x 49k for SmolLM2) then runs on a few percent of the tokens instead of all of them;
    the loss is the same token-level cross-entropy the model would compute, summed and divided by the number of
    labelled tokens in the whole accumulated batch (``num_items_in_batch``), i.e. correct under gradient
    accumulation.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss_is_scaled_for_ga = True

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        import torch
        import torch.nn.functional as F

        inputs = dict(inputs)
        labels = inputs.pop("labels")
        targets = labels[:, 1:]
        keep = (targets != IGNORE_INDEX).any(dim=0).nonzero().squeeze(-1)
        outputs = model(**inputs, logits_to_keep=keep)
        logits = outputs.logits.float()
        gold = targets[:, keep]
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), gold.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
        )
        if num_items_in_batch is not None:
            loss = loss / torch.as_tensor(num_items_in_batch, device=loss.device).clamp(min=1)
        else:
            loss = loss / (gold != IGNORE_INDEX).sum().clamp(min=1) / self.current_gradient_accumulation_steps
        return (loss, outputs) if return_outputs else loss


class TimeBudgetCallback(TrainerCallback):
    """Stops training once ``minutes`` of wall time have passed since training began (the adapter is then saved
    as usual), so that a run fits a stated CPU budget on a shared machine."""

    def __init__(self, minutes: float) -> None:
        self.seconds = minutes * 60.0
        self.started: float | None = None
        self.stopped_early = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.started is not None and time.monotonic() - self.started >= self.seconds:
            self.stopped_early = True
            control.should_training_stop = True
            control.should_save = True
        return control


class RichProgressCallback(TrainerCallback):
    """Shows steps done / total with elapsed and remaining time, and prints each logged loss on its own line
    (so that a run in the background logging to a file is readable)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.progress: Progress | None = None
        self.task: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.progress = Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs:
            shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in logs.items())
            self.console.print(f"step {state.global_step}/{state.max_steps}: {shown}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


CARD = "README.md"


def write_metadata(out: Path, meta: dict[str, Any]) -> Path:
    """``task_router.json``: ``quantized`` (read by ``qlora:`` loading), config, data, command, metrics."""
    path = out / TRAINING_META
    path.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def render_card(meta: dict[str, Any]) -> str:
    """Markdown model card from the metadata written by the trainer.

    Example:
        >>> print(render_card({"base": "embedded", "quantized": False, "command": "task-router train ...",
        ...     "data": {"files": ["d.jsonl"], "conversations": 2}, "metrics": {"train_loss": 1.5}}).splitlines()[0])
        # Task-router adapter (embedded)
    """
    config = meta.get("config", {})
    lora = config.get("model", config)  # adapters trained before TRL's ModelConfig kept the LoRA fields flat
    modules = lora.get("lora_target_modules", lora.get("target_modules")) or []  # older adapters: target_modules
    data = meta.get("data", {})
    metrics = meta.get("metrics", {})
    lines = [
        f"# Task-router adapter ({meta.get('base', '?')})",
        "",
        "A LoRA adapter trained by `task-router train` to answer the `scoring` router's question (which task is",
        "the assistant doing after the user's latest message, and is the user finishing it) in the exact prompt",
        "layout of `task_router._inference.engine`. Use it as `qlora:<this folder>` with any router kind.",
        "",
        "## Base model",
        f"- base: `{meta.get('base', '?')}` ({'4-bit NF4 + LoRA (QLoRA)' if meta.get('quantized') else 'bf16 + LoRA'})",
        f"- LoRA r={lora.get('lora_r')}, alpha={lora.get('lora_alpha')}, dropout={lora.get('lora_dropout')}, "
        f"modules {', '.join([modules] if isinstance(modules, str) else modules)}"
        + (f", top {lora['lora_layers']} layers only" if lora.get("lora_layers") else ", every layer"),
        "",
        "## Data",
        *[f"- `{name}`" for name in data.get("files", [])],
        f"- conversations (after augmentation): {data.get('conversations')}, packed sequences: "
        f"{data.get('sequences')}, decisions: {data.get('decisions')}, tokens: {data.get('tokens')}",
        f"- augmentation: `{json.dumps(config.get('augment', {}))}`; seed {config.get('seed')}",
        "",
        "## Command",
        "```",
        str(meta.get("command", "")),
        "```",
        "",
        "## Training metrics",
        *[f"- {key}: {value}" for key, value in metrics.items()],
    ]
    evaluation = meta.get("evaluation")
    if evaluation:
        lines += ["", "## Evaluation", "", str(evaluation)]
    return "\n".join(lines) + "\n"


def write_card(out: Path, meta: dict[str, Any]) -> Path:
    path = out / CARD
    path.write_text(render_card(meta), encoding="utf-8")
    return path
