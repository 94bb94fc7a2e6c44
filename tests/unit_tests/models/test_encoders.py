"""Routing encoders run their forward with a deliberate torch thread count, in the forward's own thread only."""

from __future__ import annotations

import threading

import pytest

from task_router.models._encoders import ENCODER_THREADS_ENV, encoder_threads, torch_threads

torch = pytest.importorskip("torch")


def test_the_count_comes_from_the_environment_with_a_documented_default(monkeypatch) -> None:
    monkeypatch.delenv(ENCODER_THREADS_ENV, raising=False)
    assert encoder_threads() == 1
    monkeypatch.setenv(ENCODER_THREADS_ENV, "2")
    assert encoder_threads() == 2
    monkeypatch.setenv(ENCODER_THREADS_ENV, "torch")
    assert encoder_threads() is None
    monkeypatch.setenv(ENCODER_THREADS_ENV, "0")
    with pytest.raises(ValueError, match=f"{ENCODER_THREADS_ENV} must be a number of threads >= 1, or 'torch'"):
        encoder_threads()


def test_torch_threads_applies_in_its_thread_only_and_restores() -> None:
    main_before = torch.get_num_threads()
    seen: dict[str, int] = {}

    def forward() -> None:
        before = torch.get_num_threads()
        with torch_threads(1):
            seen["inside"] = torch.get_num_threads()
        seen["after"] = torch.get_num_threads()
        seen["before"] = before

    worker = threading.Thread(target=forward)
    worker.start()
    worker.join()
    assert seen["inside"] == 1 and seen["after"] == seen["before"]
    assert torch.get_num_threads() == main_before
    with torch_threads(None):
        assert torch.get_num_threads() == main_before
