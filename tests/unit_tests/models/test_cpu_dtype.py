"""Local models load in the dtype this CPU runs fastest (issue 25, item 0): bf16 where it is native (AVX512-BF16
or AMX), fp32 where torch would emulate it; ``TASK_ROUTER_DTYPE`` overrides it with a clear error for a typo."""

from __future__ import annotations

import pytest

from task_router.models import _cpu as cpu


@pytest.fixture(autouse=True)
def fresh_detection(monkeypatch: pytest.MonkeyPatch):
    import torch

    # The machine running the tests may be AVX2-only (then torch says so and bf16 is never native): these tests
    # describe an AVX512 CPU unless they say otherwise.
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    cpu.native_bf16.cache_clear()
    yield
    cpu.native_bf16.cache_clear()


def test_torch_held_to_avx2_never_counts_as_native(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert not cpu.native_bf16()


@pytest.mark.parametrize(("native", "expected"), [(True, "bfloat16"), (False, "float32")])
def test_the_dtype_follows_the_cpu(monkeypatch: pytest.MonkeyPatch, native: bool, expected: str) -> None:
    import torch

    monkeypatch.delenv(cpu.DTYPE_ENV, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert cpu.local_dtype_name() == expected
    assert cpu.local_dtype() == getattr(torch, expected)
    assert ("bf16 native" if native else "bf16 emulated") in cpu.cpu_description()


def test_amx_alone_counts_as_native(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert cpu.native_bf16()


def test_without_torch_checks_the_kernel_flags_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    monkeypatch.setattr(cpu, "_cpuinfo", lambda: "model name\t: Some CPU\nflags\t\t: fpu avx2 fma\n")
    assert not cpu.native_bf16()
    cpu.native_bf16.cache_clear()
    monkeypatch.setattr(cpu, "_cpuinfo", lambda: "flags\t\t: fpu avx2 avx512_bf16\n")
    assert cpu.native_bf16()


@pytest.mark.parametrize("value", ["float32", "bfloat16", " Float32 "])
def test_the_environment_overrides_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(cpu.DTYPE_ENV, value)
    assert cpu.local_dtype_name() == value.strip().lower()


def test_a_typo_names_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cpu.DTYPE_ENV, "fp16")
    with pytest.raises(ValueError, match="auto, bfloat16, float32"):
        cpu.local_dtype_name()


def test_a_cpu_torch_is_held_to_avx2_on_is_not_native(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert not cpu.native_bf16()


def test_the_learned_router_loads_in_that_dtype(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("peft")
    import torch

    from task_router._learned.model import BUILTIN_DIR, _load

    for name in ("float32", "bfloat16"):
        monkeypatch.setenv(cpu.DTYPE_ENV, name)
        model = _load.__wrapped__(BUILTIN_DIR, "torch")  # not the process's cached one
        assert next(model.bi_encoder.parameters()).dtype == getattr(torch, name)
