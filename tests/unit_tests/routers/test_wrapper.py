"""Wrappers (Abstain, Shortlist) delegate: the wrapped router's kind, prefill and warm-up stay reachable, however
deep the wrapping; `task-router route` warms the router before the decision it times."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.runnables import RunnableConfig
from typer.testing import CliRunner

from task_router import TaskCatalog
from task_router._router_input import RoutingInput
from task_router.routers._base import Prediction, Router
from task_router.routers._compose import Abstain
from task_router.routers._embedding import EmbeddingRouter
from task_router.routers._shortlist import Shortlist, TaskRetriever
from tests.unit_tests.fakes import Words


class Prefilling(Router):
    kind = "prefilling"

    def __init__(self, catalog: TaskCatalog | None = None) -> None:
        super().__init__(catalog=catalog, model_label="fake")
        self.prefilled: list[tuple[int, list[str]]] = []
        self.warmed: list[TaskCatalog | None] = []

    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        return Prediction(routing.catalog.names[0], confidence=0.9)

    def prefill(self, input: dict, config: RunnableConfig | None = None) -> int:
        self.prefilled.append((len(input["messages"]), list(input["catalog"].names)))
        return 1

    def warm(self, catalog: TaskCatalog | None = None) -> None:
        self.warmed.append(catalog)


def _retriever() -> TaskRetriever:
    return TaskRetriever(EmbeddingRouter(encoder=Words(), closing_phrases=()))


def _wrappings(inner: Router) -> list[Router]:
    return [
        Abstain(inner, threshold=0.5),
        Shortlist(inner, k=1, retriever=_retriever()),
        Shortlist(Abstain(inner, threshold=0.5), k=1, retriever=_retriever()),
        Abstain(Shortlist(inner, k=1, retriever=_retriever()), threshold=0.1),
    ]


@pytest.mark.parametrize("depth", range(4))
def test_every_wrapping_keeps_kind_prefill_and_warm(catalog: TaskCatalog, depth: int) -> None:
    inner = Prefilling(catalog)
    wrapped = _wrappings(inner)[depth]
    assert wrapped.kind == "prefilling" and wrapped.model_label == "fake"
    wrapped.warm(catalog)
    assert inner.warmed == [catalog]
    thread = {"configurable": {"thread_id": "t1"}}
    decision = wrapped.invoke({"messages": ["summarise the meeting"], "catalog": catalog}, thread)
    assert decision.router == "prefilling" and decision.task in catalog and decision.fallback is None
    assert wrapped.prefill({"messages": ["a", "b"], "catalog": catalog}, thread) == 1
    (count, names), *_ = inner.prefilled
    assert count == 2
    if depth == 0:  # no shortlist: the catalogue the decisions read
        assert names == catalog.names
    else:  # a shortlist: the tasks this thread's last decision was shortlisted to, the prompt its next one reuses
        assert len(names) == 1 and set(names) <= set(catalog.names)


def test_a_shortlist_prefills_nothing_before_its_thread_has_a_decision(catalog: TaskCatalog) -> None:
    inner = Prefilling(catalog)
    wrapped = Shortlist(inner, k=1, retriever=_retriever())
    assert wrapped.prefill({"messages": ["a"], "catalog": catalog}, {"configurable": {"thread_id": "new"}}) == 0
    assert inner.prefilled == []


def test_a_wrapper_has_no_prefill_when_the_wrapped_router_has_none(catalog: TaskCatalog) -> None:
    plain = EmbeddingRouter(encoder=Words(), closing_phrases=(), catalog=catalog)
    assert getattr(Abstain(plain, threshold=0.2), "prefill", None) is None
    with pytest.raises(AttributeError):
        _ = Abstain(plain, threshold=0.2).no_such_capability


def test_embedding_router_warm_up_embeds_the_catalogue_once(catalog: TaskCatalog) -> None:
    words = Words()
    router = EmbeddingRouter(encoder=words, closing_phrases=())
    router.warm(catalog)
    after_warm = words.encoded
    router.invoke({"messages": ["recap the meeting"], "catalog": catalog})
    assert words.encoded == after_warm + 1  # the decision embeds only the turn


def test_route_warms_the_router_before_the_timed_decision(tmp_path: Path, monkeypatch, catalog) -> None:
    router = Prefilling()
    monkeypatch.setattr("task_router.cli._eval.build_router", lambda *args, **kwargs: router)
    conversation = tmp_path / "c.json"
    conversation.write_text(json.dumps([{"role": "user", "content": "recap"}]), encoding="utf-8")
    result = CliRunner().invoke(
        __import__("task_router.cli", fromlist=["app"]).app, ["route", "--conversation", str(conversation), "--verbose"]
    )
    assert result.exit_code == 0, result.output
    assert len(router.warmed) == 1 and router.warmed[0] is not None
    assert "start-up:" in result.stderr
    assert json.loads(result.stdout)["router"] == "prefilling"


def test_keyword_options_build_the_same_wrappers_as_composing_by_hand(catalog: TaskCatalog) -> None:
    from task_router import make_router

    inner = EmbeddingRouter(encoder=Words(), closing_phrases=(), threshold=None)
    composed = Shortlist(Abstain(inner, threshold=0.4), k=2, retriever=_retriever())
    assert composed.k == 2 and composed.router.threshold == 0.4 and composed.kind == "embedding"
    keyword = make_router("embedding", model=None, encoder=Words(), closing_phrases=(), none_threshold=0.4, shortlist=2)
    assert type(keyword) is type(composed) and type(keyword.router) is type(composed.router)
    assert keyword.k == 2 and keyword.router.threshold == 0.4 and keyword.router.router.threshold is None
    turn = {"messages": ["summarise the meeting notes"], "catalog": catalog}
    assert composed.invoke(turn).task == keyword.invoke(turn).task
    with pytest.raises(ValueError, match="fit it with task-router fit"):
        make_router("embedding", model=None, encoder=Words(), none_threshold=1.5)
    with pytest.raises(TypeError, match="unexpected keyword argument 'shortlist_size'"):
        make_router("embedding", model=None, encoder=Words(), shortlist_size=2)
