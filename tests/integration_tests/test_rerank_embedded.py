"""The reranker on the real embedded model (SmolLM2-135M) over the real MiniLM embedding router."""

from __future__ import annotations

import pytest

from task_router import TaskCatalog
from task_router._router_input import coerce_input
from task_router.routers import make_router
from task_router.routers._shortlist import Reranker

pytest.importorskip("sentence_transformers")
pytestmark = pytest.mark.slow

CATALOG = TaskCatalog(
    [
        {"name": "flight_status", "description": "Check whether a flight is on time or delayed."},
        {"name": "book_hotel", "description": "Reserve a hotel room in a city for given dates."},
        {"name": "weather", "description": "Tell the weather forecast for a place."},
        {"name": "play_music", "description": "Play a song, an artist or a playlist."},
        {"name": "set_alarm", "description": "Set an alarm for a time."},
        {"name": "recipe", "description": "Find a recipe for a dish."},
    ]
)
REQUESTS = {
    "Is my plane to Boston going to be late?": "flight_status",
    "Will it rain in Paris tomorrow?": "weather",
    "Wake me up at 6:30 tomorrow morning": "set_alarm",
    "How do I make a lasagna?": "recipe",
    "Put on some Beatles": "play_music",
}


@pytest.fixture(scope="module")
def reranker() -> Reranker:
    return Reranker("embedded", k=6)


def test_each_request_is_more_likely_under_its_own_task_than_on_average(reranker):
    # The 135M model alone is a weak classifier (it is a reranker): its own task need not come first, but it
    # must move the right way (above the mean, which is what the reranker adds to the similarity).
    for text, gold in REQUESTS.items():
        logliks = dict(zip(CATALOG.names, reranker.logliks(CATALOG.tasks, text), strict=True))
        assert logliks[gold] > sum(logliks.values()) / len(logliks), (text, logliks)


def test_reranked_embedding_router_routes_and_keeps_a_valid_decision(reranker):
    router = make_router("embedding", model=None, rerank=reranker, catalog=CATALOG)
    for text, gold in REQUESTS.items():
        decision = router.invoke({"messages": [{"role": "user", "content": text}]})
        assert (decision.event, decision.task, decision.valid_format) == ("START", gold, True)
    routing = coerce_input({"messages": [{"role": "user", "content": "Put on some Beatles"}]}, CATALOG)
    similarities, _ = router.similarities(routing)
    assert router.scores(routing)[0] != similarities  # the model moved them
