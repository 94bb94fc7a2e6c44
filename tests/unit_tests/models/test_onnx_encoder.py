"""Choosing the encoder backend, and what the ONNX backend refuses (no model needed)."""

from __future__ import annotations

import pytest

from task_router.models import _encoders as onnx_encoder
from task_router.models._encoders import OnnxExportError, backend_name


def test_an_unknown_backend_names_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="auto, torch, onnx, onnx-int8"):
        backend_name("gpu")
    monkeypatch.setenv(onnx_encoder.BACKEND_ENV, "cuda")
    with pytest.raises(ValueError, match="TASK_ROUTER_BACKEND"):
        backend_name()


def test_auto_is_onnx_where_installed_and_torch_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(onnx_encoder.BACKEND_ENV, raising=False)
    monkeypatch.setattr(onnx_encoder, "_onnx_installed", lambda: True)
    assert backend_name() == "onnx" and backend_name("torch") == "torch"
    monkeypatch.setattr(onnx_encoder, "_onnx_installed", lambda: False)
    assert backend_name() == "torch"
    with pytest.raises(ValueError, match=r"pip install 'langgraph-task-router\[local\]'"):
        backend_name("onnx-int8")


class _Module:
    def __init__(self, name: str, **attributes: object) -> None:
        self.__class__ = type(name, (), {})
        self.__dict__.update(attributes)


@pytest.mark.parametrize(
    ("modules", "ok"),
    [
        ([_Module("Transformer"), _Module("Pooling", pooling_mode_mean_tokens=True), _Module("Normalize")], True),
        ([_Module("Transformer"), _Module("Pooling", pooling_mode="mean")], True),
        ([_Module("Transformer"), _Module("Pooling", pooling_mode_mean_tokens=False)], False),  # CLS pooling
        ([_Module("Transformer"), _Module("Pooling", pooling_mode_mean_tokens=True), _Module("Dense")], False),
    ],
)
def test_only_mean_pooled_encoders_go_to_onnx(modules: list, ok: bool) -> None:
    if ok:
        onnx_encoder._check_pipeline(modules)
    else:
        with pytest.raises(OnnxExportError, match="backend='torch'"):
            onnx_encoder._check_pipeline(modules)
