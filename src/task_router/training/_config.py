"""The scoring router's training configuration, in the manner of TRL: :class:`TrainConfig` is transformers'
``TrainingArguments`` with this trainer's defaults (as TRL's ``SFTConfig``), :class:`RouterModelConfig` is TRL's
``ModelConfig`` (the base model and its LoRA). ``task-router train`` parses both, and
:class:`~task_router.training.AugmentConfig`, with ``HfArgumentParser``: each default lives in its field."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

from transformers import SchedulerType, TrainingArguments
from trl import ModelConfig

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
