"""How local models run on this machine: the dtype chosen by what this CPU does, and quiet loading.

bfloat16 halves the memory traffic of a forward and is about twice as fast as float32 where the CPU has bf16
instructions (AVX512-BF16 or AMX). Where it has not (AVX2-only CPUs), torch emulates bf16 and it is slower than
float32: measured on an AVX2-only 2-core EPYC, the learned router took 35 ms a decision in bf16 against 24.5 ms
in fp32, with 299 of 300 decisions identical. So the learned router's encoders and the embedded
chat model load in :func:`local_dtype`: bf16 where it is native, fp32 elsewhere. (The untrained embedding
router stays in fp32 everywhere: in bf16 it changed 1.2% of its clinc_dev decisions.)

The learned router's encoder runs on ONNX Runtime in fp32 where it is installed
(:mod:`task_router.models._encoders`): the dtype here is for the models torch runs.

Override it for the process with ``TASK_ROUTER_DTYPE`` (``auto``, ``bfloat16`` or ``float32``), e.g. to compare
the two on one machine.

Library output a load or a training run should not print (:func:`no_loading_bars`, :func:`peft_quietly`):
transformers' weight-loading bars and the deprecation notice PEFT triggers in transformers on every adapter it wraps
or loads (nothing for a user to act on).

Example:
    >>> local_dtype_name() in ("bfloat16", "float32")
    True
    >>> "bf16" in cpu_description()
    True
"""

from __future__ import annotations

import os
import platform
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

DTYPE_ENV = "TASK_ROUTER_DTYPE"
DTYPES = ("auto", "bfloat16", "float32")


@cache
def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 in hardware (AVX512-BF16 or AMX) and torch may use it (not held to AVX2
    by ``ATEN_CPU_CAPABILITY``), so that bf16 is faster than fp32."""
    try:
        import torch

        if torch.backends.cpu.get_cpu_capability() in ("DEFAULT", "AVX2", "NO AVX"):
            return False  # measured: bf16 through AVX2 kernels took 50 ms a decision against 19.8 ms in fp32
        checks = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
        if all(callable(check) for check in checks):
            return any(check() for check in checks)  # type: ignore[misc]
    except ImportError:
        pass
    return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})  # torch without those checks: ask the kernel


def local_dtype_name() -> str:
    """``"bfloat16"`` where the CPU has native bf16, else ``"float32"``; ``TASK_ROUTER_DTYPE`` overrides it."""
    chosen = os.environ.get(DTYPE_ENV, "auto").strip().lower() or "auto"
    if chosen not in DTYPES:
        raise ValueError(f"{DTYPE_ENV}={chosen!r} is not a dtype this project loads: use one of {', '.join(DTYPES)}")
    if chosen != "auto":
        return chosen
    return "bfloat16" if native_bf16() else "float32"


def local_dtype() -> Any:
    """The torch dtype of :func:`local_dtype_name`."""
    import torch

    return getattr(torch, local_dtype_name())


def cpu_description() -> str:
    """This CPU in a few words, for benchmark tables: model name, torch's vector capability, bf16 native or not,
    the cores, the dtype torch models load in and what runs the routers' sentence encoders, e.g. ``"AMD EPYC, AVX2, bf16
    emulated, 2 cores -> float32, encoders on onnx"``."""
    name = _cpu_model_name() or platform.processor() or platform.machine()
    try:
        import torch

        capability = torch.backends.cpu.get_cpu_capability()
    except ImportError:
        capability = "torch not installed"
    bf16 = "bf16 native" if native_bf16() else "bf16 emulated"
    from task_router.models._encoders import backend_name

    try:
        backend = backend_name()
    except ValueError as exc:  # a bad TASK_ROUTER_BACKEND: described, not raised, in a benchmark's header
        backend = f"invalid backend ({exc})"
    return f"{name}, {capability}, {bf16}, {os.cpu_count()} cores -> {local_dtype_name()}, encoders on {backend}"


def _cpuinfo() -> str:
    path = Path("/proc/cpuinfo")
    return path.read_text(errors="replace") if path.is_file() else ""


def _cpu_flags() -> set[str]:
    for line in _cpuinfo().splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def _cpu_model_name() -> str:
    for line in _cpuinfo().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return ""


@contextmanager
def no_loading_bars() -> Iterator[None]:
    """transformers' "Loading weights" bars off while a model loads; turned back on after it if they were on."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


@contextmanager
def peft_quietly() -> Iterator[None]:
    """PEFT asks transformers ``is_gradient_checkpointing``, deprecated in transformers 5 (a FutureWarning each time
    an adapter is wrapped or loaded): that one notice is dropped, inside this block only."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.* is deprecated", category=FutureWarning)
        yield


__all__ = [
    "DTYPES",
    "DTYPE_ENV",
    "cpu_description",
    "local_dtype",
    "local_dtype_name",
    "native_bf16",
    "no_loading_bars",
    "peft_quietly",
]
