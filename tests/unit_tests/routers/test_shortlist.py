"""Shortlist retrieval: top-k sub-catalogues, kept active/pinned tasks, caches, every kind via make_router."""

from __future__ import annotations

import gc
import weakref

import pytest

from task_router import TaskCatalog
from task_router.routers import make_router
from task_router.routers._base import Prediction
from task_router.routers._embedding import EmbeddingRouter
from task_router.routers._shortlist import Shortlist, TaskRetriever, recall_at_k
from tests.unit_tests.fakes import Scripted, Words, big_catalog


@pytest.fixture
def catalog() -> TaskCatalog:
    return TaskCatalog.from_records(big_catalog(40))


def retriever(encoder: Words | None = None, window: int = 1) -> TaskRetriever:
    return TaskRetriever(EmbeddingRouter(encoder=encoder or Words(), closing_phrases=()), window=window)


def turn(text: str, active: str | None = None, catalog: TaskCatalog | None = None, history=()) -> dict:
    messages = [*history, {"role": "user", "content": text}]
    return {"messages": messages, "active_task": active, "catalog": catalog}


def test_the_router_sees_only_the_top_k_plus_active_and_pinned(catalog):
    inner = Scripted(lambda r: Prediction("task_17"))
    router = Shortlist(inner, k=3, pinned=["task_00", "not_there"], retriever=retriever())
    decision = router.invoke(turn("item17 number 17", "task_05", catalog))
    shown = inner.seen[-1]
    assert "task_17" in shown and "task_05" in shown and "task_00" in shown
    from task_router._router_input import coerce_input

    top3 = router.retriever.rank(coerce_input(turn("item17 number 17", "task_05", catalog)))[:3]
    assert set(shown) == {*top3, "task_05", "task_00"}
    assert shown == [n for n in catalog.names if n in shown]  # catalogue order
    assert (decision.event, decision.task, decision.router) == ("SWITCH", "task_17", "scripted")
    assert decision.rationale.startswith(f"shortlist {len(shown)}/40")


def test_small_catalogues_pass_through(catalog):
    inner = Scripted(lambda r: Prediction(None))
    small = TaskCatalog.from_records(big_catalog(4))
    Shortlist(inner, k=5, retriever=retriever()).invoke(turn("pizza", catalog=small))
    assert inner.seen[-1] == small.names


def test_same_shortlist_gives_the_same_sub_catalogue_object(catalog):
    inner = Scripted(lambda r: Prediction(None))
    router = Shortlist(inner, k=2, retriever=retriever())
    subs = []
    inner.answer = lambda r: (subs.append(r.catalog), Prediction(None))[1]
    router.invoke(turn("item3 pizza", catalog=catalog))
    router.invoke(turn("item3 pizza", catalog=catalog))
    assert subs[0] is subs[1] and len(subs[0]) == 2


def test_sub_catalogues_are_per_catalogue_version_and_keep_no_catalogue_alive(catalog):
    router = Shortlist(Scripted(lambda r: Prediction(None)), k=2, retriever=retriever())
    first = router.sub_catalog(catalog, ["task_01", "task_02"])
    assert router.sub_catalog(catalog, ["task_01", "task_02"]) is first
    catalog.update("task_01", description="Another description")
    edited = router.sub_catalog(catalog, ["task_01", "task_02"])
    assert edited is not first and edited["task_01"].description == "Another description"
    other = TaskCatalog(catalog.tasks)
    router.sub_catalog(other, ["task_01", "task_02"])
    gone = weakref.ref(other)
    del other
    gc.collect()
    assert gone() is None  # the cache holds sub-catalogues, not the catalogues they were taken from


def test_decision_never_names_a_task_outside_the_full_catalogue(catalog):
    router = Shortlist(Scripted(lambda r: Prediction("made_up")), k=2, retriever=retriever())
    decision = router.invoke(turn("pizza", catalog=catalog))
    assert decision.task is None and decision.valid_format is False


def test_task_vectors_are_cached_and_updated_incrementally(catalog):
    encoder = Words()
    ranker = retriever(encoder)
    router = Shortlist(Scripted(lambda r: Prediction(None)), k=3, retriever=ranker)
    router.invoke(turn("pizza", catalog=catalog))
    after_first = encoder.encoded
    router.invoke(turn("taxi", catalog=catalog))
    assert encoder.encoded - after_first == 1  # only the query
    catalog.add({"name": "zebra_care", "description": "Feed the zebra at the zoo"})
    before = encoder.encoded
    assert ranker.rank(*_routing("feed my zebra", catalog))[0] == "zebra_care"
    assert encoder.encoded - before == 2  # the new task's text and the query, nothing else


def _routing(text: str, catalog: TaskCatalog):
    from task_router._router_input import coerce_input

    return (coerce_input(turn(text, catalog=catalog)),)


def test_window_mixes_earlier_messages_into_the_query(catalog):
    history = [{"role": "user", "content": "book a taxi item7"}, {"role": "assistant", "content": "Where to?"}]
    from task_router._router_input import coerce_input

    routing = coerce_input(turn("the airport", catalog=catalog, history=history))
    assert "task_07" in retriever(window=2).rank(routing)[:1]
    assert "task_07" not in retriever(window=0).rank(routing)[:1]


def test_make_router_wraps_any_kind_and_shares_the_embedding_cache(catalog):
    router = make_router("embedding", model=None, encoder=Words(), shortlist=4, shortlist_pinned=["task_01"])
    assert isinstance(router, Shortlist) and router.kind == "embedding"
    assert router.retriever.embedder is router.router  # one encoder, one vector cache
    decision = router.invoke(turn("item12 number 12", catalog=catalog))
    assert decision.task == "task_12" and decision.router == "embedding"


def test_invalid_k():
    with pytest.raises(ValueError, match="at least 1"):
        Shortlist(Scripted(lambda r: Prediction(None)), k=0, retriever=retriever())


def test_recall_at_k():
    assert recall_at_k([["a", "b", "c"], ["c", "b", "a"], ["x"]], ["b", "a", "NONE"], [1, 2, 3]) == {
        1: 0.0,
        2: 0.5,
        3: 1.0,
    }
    with pytest.raises(ValueError, match="gold task"):
        recall_at_k([["a"]], ["NONE"], [1])


def test_shortlist_in_front_of_the_embedding_router_embeds_the_turn_once(catalog):
    encoder = Words()
    inner = EmbeddingRouter(encoder=encoder, closing_phrases=())
    router = Shortlist(inner, k=5)  # shares the inner router's embedder and its caches
    first = router.invoke(turn("book a taxi", catalog=catalog))
    before = encoder.encoded
    second = router.invoke(turn("a pizza please", catalog=catalog))
    assert encoder.encoded - before == 1  # the new query once; the shortlisted tasks' vectors are cached
    alone = EmbeddingRouter(encoder=encoder, closing_phrases=())  # same vocabulary, so the same vectors
    assert [(d.event, d.task) for d in (first, second)] == [
        (d.event, d.task) for d in (alone.invoke(turn(t, catalog=catalog)) for t in ("book a taxi", "a pizza please"))
    ]
