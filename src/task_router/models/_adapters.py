"""``qlora:<adapter_dir>``: a PEFT adapter (from ``task-router train``) on top of the base model it names."""

from __future__ import annotations

import json
import logging
import threading
from functools import cache
from pathlib import Path
from typing import Any

from task_router.models._local import EMBEDDED_NAME, LocalModel, embedded_model_dir
from task_router.models._quiet import peft_quietly

logger = logging.getLogger("task_router")
ADAPTER_CONFIG = "adapter_config.json"
TRAINING_META = "task_router.json"  # optional, written by the trainer: {"quantized": bool, ...}
BUILTIN = "builtin"
_lock = threading.Lock()


def builtin_adapter_dir() -> Path:
    """Where ``qlora:builtin`` lives inside the installed package (it may not ship: see benchmarks/RESULTS.md)."""
    return Path(__file__).resolve().parents[1] / "adapters" / BUILTIN


def load_adapter_model(adapter_dir: str | Path, *, quantize: bool | None = None) -> LocalModel:
    """Load the base model named in ``adapter_config.json`` and apply the adapter; cached per folder.

    The base (``base_model_name_or_path``) is ``"embedded"`` or a local model folder (absolute, or relative to
    the adapter folder). ``quantize=None`` picks 4-bit NF4 (bitsandbytes) for other bases when bitsandbytes is
    installed, and plain bf16 for the embedded model, whose weights are already 4-bit and do not survive a
    second quantization. A ``task_router.json`` with ``"quantized": bool`` in the adapter folder overrides it,
    so that an adapter is reloaded the way it was trained. The base is loaded separately from the shared
    ``embedded`` model, which the adapter must not modify.

    Example:
        >>> local = load_adapter_model("adapters/router-lora")  # doctest: +SKIP
        >>> from task_router import load_chat_model
        >>> model = load_chat_model("qlora:adapters/router-lora")  # the same, as a chat model  # doctest: +SKIP
    """
    if str(adapter_dir) == BUILTIN:
        folder = builtin_adapter_dir()
        if not (folder / ADAPTER_CONFIG).is_file():
            raise FileNotFoundError(
                "this version of task-router ships no built-in adapter (one ships only when it beats the base model "
                "on held-out data; see benchmarks/RESULTS.md): train one with `task-router train --data FILE --out "
                "DIR` and use qlora:DIR"
            )
    else:
        folder = Path(adapter_dir).expanduser().resolve()
    with _lock:
        return _load(str(folder), quantize)


def read_adapter_config(folder: Path) -> dict[str, Any]:
    """The adapter's ``adapter_config.json``. Raises FileNotFoundError / ValueError naming the fix."""
    if not folder.is_dir():
        raise FileNotFoundError(
            f"adapter folder {folder} does not exist: train one with `task-router train --out {folder}` "
            "or give the folder that holds adapter_config.json"
        )
    config_file = folder / ADAPTER_CONFIG
    if not config_file.is_file():
        raise FileNotFoundError(
            f"{folder} has no {ADAPTER_CONFIG}, so it is not a PEFT adapter folder: point qlora: at the --out "
            "folder of `task-router train` (or a folder saved with PeftModel.save_pretrained)"
        )
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{config_file} is not valid JSON ({exc}): re-save the adapter") from exc
    if not isinstance(config, dict) or not config.get("base_model_name_or_path"):
        raise ValueError(
            f'{config_file} names no base model: set "base_model_name_or_path" to "embedded" or to a local model folder'
        )
    return config


def resolve_base(base: str, folder: Path) -> tuple[Path, bool]:
    """(base model folder, whether it is the embedded model) for a ``base_model_name_or_path`` value."""
    if base in ("embedded", EMBEDDED_NAME):
        return embedded_model_dir(), True
    for candidate in (Path(base).expanduser(), folder / base):
        if (candidate / "config.json").is_file():
            resolved = candidate.resolve()
            return resolved, resolved == embedded_model_dir().resolve()
    raise FileNotFoundError(
        f"the adapter's base model {base!r} is not a local model folder (models are never downloaded here): set "
        f"base_model_name_or_path in {folder / ADAPTER_CONFIG} to 'embedded' or to a folder with config.json"
    )


@cache
def _load(folder_name: str, quantize: bool | None) -> LocalModel:
    try:
        from peft import PeftModelForCausalLM
        from transformers import AutoTokenizer
    except ImportError as exc:
        raise ImportError("qlora: models need peft: pip install 'langgraph-task-router[train]'") from exc
    folder = Path(folder_name)
    config = read_adapter_config(folder)
    base_dir, embedded = resolve_base(str(config["base_model_name_or_path"]), folder)
    if quantize is None:
        quantize = _trained_quantized(folder)
    if quantize is None:
        quantize = not embedded and _bitsandbytes_available()
    tokenizer_dir = folder if (folder / "tokenizer_config.json").is_file() else base_dir
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    # A reloaded NF4 adapter reproduces its trained logits only on a base prepared like the training one.
    base = load_base(base_dir, quantize=quantize, gradient_checkpointing=False)
    with peft_quietly():
        model = PeftModelForCausalLM.from_pretrained(base, folder)
    if not quantize:
        # Merged into a bf16 base, LoRA costs nothing at inference (no extra matmuls per layer on the decision path).
        model = model.merge_and_unload()
    model.eval()
    logger.info("loaded adapter %s on %s (%s)", folder, base_dir, "4-bit NF4" if quantize else "bf16")
    name = f"qlora:{BUILTIN}" if folder == builtin_adapter_dir() else f"qlora:{folder}"
    return LocalModel(model=model, tokenizer=tokenizer, name=name)


def load_base(base_dir: Path, *, quantize: bool, gradient_checkpointing: bool = False) -> Any:
    """The base model in bf16, or in 4-bit NF4 prepared for k-bit training; used for training and reloading alike."""
    import torch
    from transformers import AutoModelForCausalLM

    if not quantize:
        return AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.bfloat16)
    from peft import prepare_model_for_kbit_training
    from transformers import BitsAndBytesConfig

    nf4 = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=torch.bfloat16,
        bnb_4bit_use_double_quant=True,
    )
    model = AutoModelForCausalLM.from_pretrained(base_dir, quantization_config=nf4, dtype=torch.bfloat16)
    with peft_quietly():
        return prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)


def _trained_quantized(folder: Path) -> bool | None:
    meta = folder / TRAINING_META
    if not meta.is_file():
        return None
    try:
        value = json.loads(meta.read_text(encoding="utf-8")).get("quantized")
    except (json.JSONDecodeError, AttributeError):
        return None
    return value if isinstance(value, bool) else None


def _bitsandbytes_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("bitsandbytes") is not None
