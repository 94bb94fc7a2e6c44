"""`qlora:builtin`: the adapter shipped in the package (trained by `task-router train` on SGD train, see its model
card) loads offline on the embedded model and routes a clear request; a missing one is an error naming the fix."""

from __future__ import annotations

import pytest

from task_router import TaskCatalog, make_router
from task_router.models import _local as adapters

pytest.importorskip("peft")


def test_builtin_adapter_routes_on_the_embedded_model() -> None:
    router = make_router("scoring", model="qlora:builtin", catalog=TaskCatalog.demo())
    turn = {"messages": [{"role": "user", "content": "Please write a follow-up email to the client after the call"}]}
    decision = router.invoke(turn)
    assert (decision.event, decision.task, decision.model) == ("START", "follow_up_email", "qlora:builtin")
    assert decision.valid_format and decision.confidence > 0.5
    card = (adapters.builtin_adapter_dir() / "README.md").read_text()
    assert "task-router train" in card and "qlora:builtin" in card


def test_missing_builtin_adapter_names_the_fix(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(adapters, "builtin_adapter_dir", lambda: tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="task-router train"):
        adapters.load_adapter_model("builtin")
