"""The training configuration: TRL's ``ModelConfig`` (the LoRA fields) plus the data and schedule of this trainer."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from trl import ModelConfig

from task_router.training._augment import AugmentConfig

# All attention and MLP projections of Llama-style models (SmolLM2 included).
DEFAULT_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# ModelConfig fields that this trainer does not read, and the field that does their job here.
_REPLACED_FIELDS = {"model_name_or_path": "base", "load_in_4bit": "quantize", "load_in_8bit": "quantize"}


@dataclass(kw_only=True)
class TrainConfig(ModelConfig):
    """Everything a training run depends on; saved with the adapter so that the run can be reproduced.

    The LoRA fields are TRL's :class:`~trl.ModelConfig` ones (``lora_r``, ``lora_alpha``, ``lora_dropout``,
    ``lora_target_modules``, ``use_rslora``, ``use_dora``...), turned into a ``LoraConfig`` by TRL's
    ``get_peft_config``; ``lora_layers`` adds PEFT's ``layers_to_transform``. The base model is ``base``
    (``embedded``, ``hf:<dir>`` or a folder) and its quantization ``quantize``, not ModelConfig's
    ``model_name_or_path`` / ``load_in_4bit``. ``to_dict`` is what ``task_router.json`` saves as ``config``,
    and :meth:`from_dict` reads it back.

    ``quantize``: None picks 4-bit NF4 (QLoRA) for other bases and plain bf16 LoRA for the embedded model, whose
    weights are already 4-bit (GGUF Q4_1) and do not survive a second quantization (measured: NF4 agrees with
    the bf16 model's top prediction only 51% of the time). ``--no-quantize`` forces plain LoRA.

    Example:
        >>> config = TrainConfig(data=["train.jsonl.gz"], out="adapters/router", max_steps=10)
        >>> config.resolved_quantize(embedded=True)
        False
        >>> config.lora_r, config.lora_alpha, config.lora_target_modules[:2]
        (16, 32, ['q_proj', 'k_proj'])
    """

    data: list[str]
    out: str
    base: str = "embedded"
    quantize: bool | None = None
    max_steps: int = -1
    epochs: float = 1.0
    max_minutes: float | None = None  # wall-time budget: stop (and save) once it is spent
    lr_scheduler: str = "cosine"
    limit: int | None = None  # first N conversations of the data
    learning_rate: float = 5e-4
    warmup_steps: int = 10
    batch_size: int = 1
    grad_accum: int = 4
    use_peft: bool = True  # ModelConfig's defaults otherwise (r 16, alpha 32, dropout 0.05)
    lora_target_modules: list[str] | None = field(default_factory=lambda: list(DEFAULT_TARGET_MODULES))
    lora_layers: int | None = None  # LoRA on the top N layers only (faster: no backward below them); None = all
    max_tokens: int = 4096  # longest packed sequence
    prompt: str = "scoring"  # the scoring router's prompt file, whose layout is taught
    window: int = 8  # the scoring router's defaults (routers/_scoring.py)
    stride: int = 8
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    examples_prob: float = 0.0  # share of conversations whose tasks get example requests from other ones
    seed: int = 0
    save_steps: int = 50
    save_total_limit: int = 2
    logging_steps: int = 5
    resume: bool = False
    gradient_checkpointing: bool = False
    threads: int | None = None  # torch threads (default: torch's choice)
    adapter_dtype: str = "bfloat16"  # saved adapter weights (bf16 halves the file; the base runs in bf16 anyway)

    def __post_init__(self) -> None:
        if not self.data:
            raise ValueError("no training data: give --data PATH (a benchmark .jsonl / .jsonl.gz file)")
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"max_steps must be a positive number of steps (or -1 for epochs), got {self.max_steps}")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be > 0 (a wall-time budget), got {self.max_minutes}")
        if self.epochs <= 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("batch_size and grad_accum must be at least 1")
        if self.lora_r < 1:
            raise ValueError(f"lora_r must be >= 1, got {self.lora_r}")
        if not self.use_peft:
            raise ValueError("use_peft must be True: this trainer trains a LoRA adapter")
        if self.adapter_dtype not in ("bfloat16", "float32"):
            raise ValueError(f"adapter_dtype must be 'bfloat16' or 'float32', got {self.adapter_dtype!r}")
        for name, ours in _REPLACED_FIELDS.items():
            if getattr(self, name):
                raise ValueError(f"{name} is not read by this trainer: set {ours} instead")
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig(**self.augment)
        super().__post_init__()

    @property
    def out_dir(self) -> Path:
        return Path(self.out).expanduser()

    @property
    def checkpoint_dir(self) -> Path:
        return self.out_dir / "checkpoints"

    def resolved_quantize(self, *, embedded: bool) -> bool:
        return (not embedded) if self.quantize is None else self.quantize

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values (``config`` in ``task_router.json``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """The config that :meth:`to_dict` saved, also from adapters saved before the TRL field names.

        Example:
            >>> saved = TrainConfig(data=["d.jsonl"], out="a", lora_r=8).to_dict()
            >>> TrainConfig.from_dict(saved) == TrainConfig(data=["d.jsonl"], out="a", lora_r=8)
            True
            >>> old = {"data": ["d"], "out": "a", "target_modules": ["q_proj", "v_proj"]}
            >>> TrainConfig.from_dict(old).lora_target_modules
            ['q_proj', 'v_proj']
        """
        fields = dict(data)
        if "target_modules" in fields:  # task_router.json before TRL's ModelConfig names
            fields["lora_target_modules"] = fields.pop("target_modules")
        return cls(**fields)
