"""The shipped learned router knows when nothing fits, keeps a task through an off-topic request, and asks between
close tasks: on catalogues it never saw, through the graph, with nothing fitted by the user (the embedded MiniLM
model, no LLM: the deliverables come from a fake writer)."""

from __future__ import annotations

import pytest

pytest.importorskip("peft")
pytest.importorskip("sentence_transformers")

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver

from task_router import Task, TaskCatalog, create_router_graph, make_router

HOUSEHOLD = [
    Task(
        name="vet_appointment",
        description="Book an appointment for a pet at the veterinarian.",
        inputs=[{"name": "when", "description": "the day and time", "question": "Which day and time suit you?"}],
    ),
    Task(name="plant_care", description="Give watering and care advice for house plants."),
    Task(name="grocery_list", description="Build or update a grocery shopping list."),
]


@pytest.fixture(scope="module")
def router():
    return make_router("learned")


def test_nothing_fits_by_default_until_a_task_that_fits_is_added_at_run_time(router) -> None:
    catalog = TaskCatalog(HOUSEHOLD)
    turn = {"messages": ["Which countries border Peru?"], "catalog": catalog}
    nothing = router.invoke(turn)
    assert (nothing.event, nothing.task) == ("NONE", None)
    assert nothing.confidence is not None and nothing.alternatives[0].event == "NONE"
    catalog.add(Task(name="geography_quiz", description="Answer questions about countries, capitals and borders."))
    fits = router.invoke(turn)
    assert (fits.event, fits.task) == ("START", "geography_quiz")


def test_an_off_topic_request_mid_task_is_answered_and_the_task_resumes(router) -> None:
    catalog = TaskCatalog(HOUSEHOLD)
    writer = GenericFakeChatModel(messages=iter([AIMessage("Booked: Tuesday at 10 am.")]))
    app = create_router_graph(catalog, router=router, model=writer).compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "vet"}}
    out = app.invoke({"messages": [("user", "My cat needs a check-up, can you book her in at the vet?")]}, cfg)
    assert out["active_task"] == "vet_appointment" and out["messages"][-1].content == "Which day and time suit you?"
    out = app.invoke({"messages": [("user", "By the way, who won the football world cup in 2018?")]}, cfg)
    decision = out["decisions"][-1]
    assert (decision["event"], decision["active_task_after"], out["active_task"]) == (
        "NONE",
        "vet_appointment",
        "vet_appointment",
    )
    assert out["messages"][-1].content == (
        "Sorry, I can't help with that here. Back to Vet appointment: Which day and time suit you?"
    )
    out = app.invoke({"messages": [("user", "Next Tuesday at 10 would be great.")]}, cfg)
    assert (out["decisions"][-1]["event"], out["active_task"]) == ("CONTINUE", "vet_appointment")
    assert out["messages"][-1].content == "Booked: Tuesday at 10 am."
    assert out["task_data"]["vet_appointment"]["inputs"] == {"when": "Next Tuesday at 10 would be great."}


def test_the_graph_asks_between_two_close_tasks_and_the_answer_picks_one(router) -> None:
    catalog = TaskCatalog(
        [
            Task(name="find_trains", description="Find trains between two cities on a date."),
            Task(name="buy_train_tickets", description="Buy train tickets for a journey between two cities."),
            *HOUSEHOLD[1:],
        ]
    )
    writer = GenericFakeChatModel(messages=iter([AIMessage("Two tickets to Boston, booked.")]))
    app = create_router_graph(catalog, router=router, model=writer, clarify_margin=0.3).compile(
        checkpointer=InMemorySaver()
    )
    cfg = {"configurable": {"thread_id": "trains"}}
    out = app.invoke({"messages": [("user", "I need to get to Boston by train on Friday")]}, cfg)
    asked = out["decisions"][-1]
    assert set(asked["clarify"]) == {"find_trains", "buy_train_tickets"}, asked["alternatives"]
    assert out["messages"][-1].content.startswith("Do you mean: ") and out.get("active_task") is None
    out = app.invoke({"messages": [("user", "Buy the tickets, two adults please")]}, cfg)
    assert (out["decisions"][-1]["event"], out["active_task"]) == ("START", "buy_train_tickets")


def test_fit_refits_the_learned_routers_own_none_scores(tmp_path) -> None:
    from typer.testing import CliRunner

    from task_router._thresholds import load_thresholds
    from task_router.cli import app
    from tests.conftest import FIXTURES

    out = tmp_path / "t.json"
    result = CliRunner().invoke(app, ["fit", "-d", str(FIXTURES / "eval_small.jsonl"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    fitted = load_thresholds(out)
    assert fitted.router == "learned" and fitted.none is None  # the default router kind, refitted, not abstaining
    assert fitted.none_bias is not None and fitted.temperature is not None
    refitted = make_router("learned", thresholds=out)
    assert refitted.calibration.none_bias == fitted.none_bias
