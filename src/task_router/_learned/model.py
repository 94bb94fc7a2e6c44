"""Loading a trained learned-router folder: the bi-encoder, the cross-encoder, and their config."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from task_router._learned.model_folder import BI_ENCODER_DIR, BUILTIN_DIR, CROSS_ENCODER_DIR, LearnedConfig
from task_router.models._encoders import MicroBatcher, unit_vectors

log = logging.getLogger(__name__)
_INSTALL_HINT = "pip install 'langgraph-task-router[local]'"


@dataclass
class LearnedModel:
    """The trained encoders of a learned router (LoRA merged into all-MiniLM-L6-v2), in the dtype this CPU runs
    fastest (:func:`task_router.models._cpu.local_dtype`: bf16 where it is native, fp32 elsewhere).

    Example:
        >>> model = LearnedModel.load()  # doctest: +SKIP
        >>> model.embed(["Active task: none. User: book a table"]).shape  # doctest: +SKIP
        (1, 384)
    """

    bi_encoder: Any
    cross_encoder: Any | None
    config: LearnedConfig
    path: Path

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # one cross-encoder forward at a time: torch already uses every core for one
        # Turns of concurrent conversations share bi-encoder forwards (one at a time, batched).
        self._embed = MicroBatcher(lambda texts: unit_vectors(self.bi_encoder, texts, batch_size=64))

    @classmethod
    def load(cls, path: str | Path | None = None, *, backend: str | None = None) -> LearnedModel:
        """Load a folder written by ``task-router train --router learned`` (None: the model shipped in the package).
        Loaded once per folder, backend and process.

        Args:
            path: the model folder; None for the shipped model.
            backend: what runs the bi-encoder: ``"onnx"`` (ONNX Runtime fp32, the default where it is installed:
                same decisions, about 1.8x faster than torch on an AVX2 CPU), ``"onnx-int8"`` (faster, changes ~1-3%
                of decisions), ``"torch"``; None reads ``TASK_ROUTER_BACKEND`` (see
                :func:`task_router.models._encoders.backend_name`).
        """
        from task_router.models._encoders import backend_name

        folder = Path(path).expanduser().resolve() if path is not None else BUILTIN_DIR
        return _load(folder, backend_name(backend))

    @staticmethod
    def forget(path: str | Path | None = None) -> None:
        """Drop the loaded models from this process's cache (after a folder was rewritten, e.g. recalibrated)."""
        _load.cache_clear()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts`` (one row each)."""
        return self._embed(list(texts))

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        """:meth:`embed`, awaited: concurrent decisions of an event loop share one forward."""
        return await self._embed.acall(list(texts))

    def cross_scores(self, query: str, candidates: Sequence[str]) -> np.ndarray:
        """The cross-encoder's logit of each (query, candidate) pair."""
        if self.cross_encoder is None:
            raise ValueError(f"{self.path} has no cross-encoder: route with the bi-encoder alone")
        with self._lock:
            logits = self.cross_encoder.predict(
                [(query, text) for text in candidates], batch_size=32, activation_fn=_identity, convert_to_numpy=True
            )
        return np.asarray(logits, dtype=np.float32).reshape(len(candidates))


def _identity(x: Any) -> Any:
    return x


@cache
def _load(folder: Path, backend: str) -> LearnedModel:
    from task_router.models._encoders import OnnxSentenceEncoder, encoder_threads, minilm_dir, sentence_encoder

    config = LearnedConfig.read(folder)
    if not (folder / BI_ENCODER_DIR / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{folder / BI_ENCODER_DIR} holds no adapter: retrain with `task-router train`")
    bi_encoder = sentence_encoder(
        lambda: _torch_encoder(folder, BI_ENCODER_DIR, config.lora_scale, cross=False),
        backend=backend,
        key=_onnx_key(folder, config),
        tokenizer_dir=minilm_dir(),
        threads=encoder_threads(),
    )
    if not isinstance(bi_encoder, OnnxSentenceEncoder):  # exported from fp32; torch runs in the CPU's best dtype
        bi_encoder = _in_local_dtype(bi_encoder)
    cross_encoder = None
    if (folder / CROSS_ENCODER_DIR / "adapter_config.json").is_file():  # always on torch
        cross_encoder = _in_local_dtype(_torch_encoder(folder, CROSS_ENCODER_DIR, 1.0, cross=True))
    return LearnedModel(bi_encoder, cross_encoder, config, folder)


def _torch_encoder(folder: Path, adapter: str, scale: float, *, cross: bool) -> Any:
    """MiniLM (fp32) with ``scale`` x the folder's LoRA ``adapter`` merged in, ready for inference."""
    try:
        from peft import PeftModel
        from sentence_transformers import CrossEncoder, SentenceTransformer
    except ImportError as exc:
        raise ImportError(f"the learned router needs torch, peft and sentence-transformers: {_INSTALL_HINT}") from exc
    from task_router.models._cpu import no_loading_bars
    from task_router.models._encoders import minilm_dir

    base = str(minilm_dir())
    with no_loading_bars():
        model = CrossEncoder(base, num_labels=1, device="cpu") if cross else SentenceTransformer(base, device="cpu")
        model[0].model = _merged(PeftModel, model[0].model, folder / adapter, scale)
    model.eval()
    return model


def _in_local_dtype(model: Any) -> Any:
    import torch

    from task_router.models._cpu import local_dtype

    if local_dtype() != torch.float32:
        model.to(local_dtype())
    return model


def _onnx_key(folder: Path, config: LearnedConfig) -> str:
    """The identity of the merged bi-encoder's weights: the base, the adapter's bytes and the merge scale."""
    from task_router.models._encoders import minilm_dir, weights_key

    adapter = folder / BI_ENCODER_DIR / "adapter_model.safetensors"
    return weights_key(minilm_dir().name, adapter, config.lora_scale)


def _merged(peft_model: Any, base: Any, adapter: Path, scale: float) -> Any:
    """The base model with ``scale`` x the adapter's LoRA update folded into its weights (no extra work per
    forward)."""
    from peft.tuners.lora import LoraLayer

    from task_router.models._cpu import peft_quietly

    with peft_quietly():
        model = peft_model.from_pretrained(base, str(adapter))
    if scale != 1.0:
        for module in model.modules():
            if isinstance(module, LoraLayer):
                module.scale_layer(scale)
    return model.merge_and_unload()
