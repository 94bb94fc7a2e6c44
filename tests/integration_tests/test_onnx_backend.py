"""The learned router on ONNX Runtime (the default backend where it is installed): the same vectors and decisions
as torch, one export per model kept in the cache and loaded later without torch, a damaged cached file exported
and checked again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("peft")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from task_router import TaskCatalog
from task_router._learned.model import BUILTIN_DIR, _load
from task_router._learned.router import LearnedRouter
from task_router.models._encoders import OnnxSentenceEncoder

TEXTS = [
    "hi",
    "Active task: meeting_recap. User: thanks, that's all for today",
    "Active task: none. Previous: What can I do for you? User: What is the weather tomorrow in Paris?",
    "Write a LinkedIn post about our product launch next week, upbeat, with two hashtags and a call to action",
    "Notes: " + " ".join(f"point {i} was discussed and agreed by the team" for i in range(60)),  # > 256 tokens
]
TURNS = [
    ([{"role": "user", "content": "Recap this morning's meeting"}], None),
    ([{"role": "user", "content": "Draft a follow-up email to the client we met"}], None),
    ([{"role": "user", "content": "What is the weather tomorrow in Paris?"}], None),
    (
        [
            {"role": "user", "content": "Write a LinkedIn post about our launch"},
            {"role": "assistant", "content": "Here is a draft: ..."},
            {"role": "user", "content": "Perfect, thanks, that's all"},
        ],
        "linkedin_post",
    ),
    (
        [
            {"role": "user", "content": "Write a LinkedIn post about our launch"},
            {"role": "assistant", "content": "Here is a draft: ..."},
            {"role": "user", "content": "Now prepare my weekly report for my manager"},
        ],
        "linkedin_post",
    ),
]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory):
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TASK_ROUTER_CACHE", str(cache))
        patch.setenv("TASK_ROUTER_DTYPE", "float32")  # the export's dtype (a bf16 CPU would load torch in bf16)
        torch_model = _load.__wrapped__(BUILTIN_DIR, "torch")  # not the process's cached ones
        onnx_model = _load.__wrapped__(BUILTIN_DIR, "onnx")
    return torch_model, onnx_model, cache


def test_onnx_gives_torch_vectors_and_decisions(models) -> None:
    torch_model, onnx_model, _ = models
    assert isinstance(onnx_model.bi_encoder, OnnxSentenceEncoder)
    expected, got = torch_model.embed(TEXTS), onnx_model.embed(TEXTS)  # one padded batch
    assert np.allclose((expected * got).sum(axis=1), 1.0, atol=1e-4)
    catalog = TaskCatalog.demo()
    on_torch, on_onnx = LearnedRouter(model=torch_model), LearnedRouter(model=onnx_model)
    for messages, active in TURNS:
        turn = {"messages": messages, "active_task": active, "catalog": catalog}
        a, b = on_torch.invoke(turn), on_onnx.invoke(turn)
        assert (a.event, a.task) == (b.event, b.task)
        assert a.confidence == pytest.approx(b.confidence, abs=1e-3)


def test_the_export_is_kept_and_a_damaged_one_is_made_again(models, monkeypatch: pytest.MonkeyPatch) -> None:
    _, onnx_model, cache = models
    path = Path(onnx_model.bi_encoder.path)
    assert path.parent == cache / "onnx" and path.is_file()
    monkeypatch.setenv("TASK_ROUTER_CACHE", str(cache))
    stamp = path.stat().st_mtime_ns
    again = _load.__wrapped__(BUILTIN_DIR, "onnx")
    assert again.bi_encoder.path == path and path.stat().st_mtime_ns == stamp  # read, not exported again
    # loaded from its record, without the torch model: the tokenizers library stands in for transformers'
    assert (cache / "onnx" / path.with_suffix(".json").name).is_file()
    torch_model = models[0]
    cosines = (torch_model.embed(TEXTS) * again.embed(TEXTS)).sum(axis=1)
    assert np.allclose(cosines, 1.0, atol=1e-4)
    path.write_bytes(b"not an onnx graph")  # a truncated copy, a disk error
    repaired = _load.__wrapped__(BUILTIN_DIR, "onnx")
    assert isinstance(repaired.bi_encoder, OnnxSentenceEncoder) and path.stat().st_size > 1_000_000
    assert np.allclose(repaired.embed(TEXTS[:2]), onnx_model.embed(TEXTS[:2]), atol=1e-5)


def test_the_embedding_router_on_onnx_decides_as_on_torch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from task_router.routers._embedding import EmbeddingRouter, _load_sentence_model, load_sentence_model

    monkeypatch.setenv("TASK_ROUTER_CACHE", str(tmp_path))
    _load_sentence_model.cache_clear()  # this test's cache folder, not the process's loaded models
    try:
        on_torch, on_onnx = load_sentence_model(backend="torch"), load_sentence_model(backend="onnx")
        assert isinstance(on_onnx, OnnxSentenceEncoder) and not isinstance(on_torch, OnnxSentenceEncoder)
        expected = on_torch.encode(TEXTS, normalize_embeddings=True)
        assert np.allclose((expected * on_onnx.encode(TEXTS, normalize_embeddings=True)).sum(axis=1), 1.0, atol=1e-4)
        catalog = TaskCatalog.demo()
        routers = EmbeddingRouter(backend="torch"), EmbeddingRouter(backend="onnx")
        for messages, active in TURNS:
            turn = {"messages": messages, "active_task": active, "catalog": catalog}
            a, b = (router.invoke(turn) for router in routers)
            assert (a.event, a.task) == (b.event, b.task)
    finally:
        _load_sentence_model.cache_clear()


def test_a_cached_graph_of_other_weights_is_exported_again(models, monkeypatch: pytest.MonkeyPatch) -> None:
    """A valid ONNX graph that is not this model's (a stale cache, a copied folder) fails the check against torch
    and is exported again, instead of sending the router back to torch for good."""
    from task_router.routers._embedding import _load_sentence_model

    torch_model, onnx_model, cache = models
    monkeypatch.setenv("TASK_ROUTER_CACHE", str(cache))
    _load_sentence_model.cache_clear()
    try:
        from task_router.routers._embedding import load_sentence_model

        untrained = load_sentence_model(backend="onnx")  # MiniLM without the adapter, exported into the same cache
    finally:
        _load_sentence_model.cache_clear()
    path = Path(onnx_model.bi_encoder.path)
    path.write_bytes(Path(untrained.path).read_bytes())
    path.with_suffix(".json").unlink()  # no record: the file is checked against torch
    repaired = _load.__wrapped__(BUILTIN_DIR, "onnx")
    assert isinstance(repaired.bi_encoder, OnnxSentenceEncoder)
    assert path.read_bytes() != Path(untrained.path).read_bytes()
    assert np.allclose((torch_model.embed(TEXTS) * repaired.embed(TEXTS)).sum(axis=1), 1.0, atol=1e-4)
