"""Asking between close tasks: the margin rule, the question, and the graph's clarify turn (pure logic)."""

from __future__ import annotations

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver

from task_router import Task, TaskCatalog, create_router_graph
from task_router._clarify import clarify_question, close_tasks, margin_of
from task_router._decision import Alternative
from task_router.routers._base import Prediction
from tests.unit_tests.fakes import Scripted

CATALOG = TaskCatalog(
    [
        Task(name="find_trains", description="Find trains between two cities on a date."),
        Task(name="buy_train_tickets", description="Buy train tickets for a journey."),
        Task(name="weather", description="Get the weather forecast."),
    ]
)
CLOSE = (("find_trains", False, 0.47), ("buy_train_tickets", False, 0.43), (None, False, 0.10))
CLEAR = (("buy_train_tickets", False, 0.91), ("find_trains", False, 0.06), (None, False, 0.03))


def _alternatives(*rows: tuple[str | None, str, float]) -> list[Alternative]:
    return [Alternative(event=event, task=task, probability=p) for task, event, p in rows]


def test_two_close_tasks_are_asked_about_and_clear_decisions_are_not() -> None:
    close = _alternatives(("a", "START", 0.46), ("b", "START", 0.41), (None, "NONE", 0.13))
    assert margin_of(close) == pytest.approx(0.05)
    assert close_tasks(close, 0.1) == ["a", "b"]
    assert close_tasks(close, 0.04) is None  # clear enough at that margin
    assert close_tasks(close, None) is None  # asking is off
    # "nothing fits" or "done" at the top is not a choice between tasks
    assert margin_of(_alternatives((None, "NONE", 0.5), ("a", "START", 0.45))) is None
    assert margin_of(_alternatives(("a", "START", 0.9))) is None
    three = _alternatives(("a", "SWITCH", 0.34), ("b", "SWITCH", 0.33), ("c", "CONTINUE", 0.32))
    assert close_tasks(three, 0.05) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="probability gap"):
        close_tasks(close, 2.0)


def test_the_margin_is_between_the_two_most_probable_tasks_whatever_the_decision_lists_first() -> None:
    """A decision lists its own answer first (a decision model may choose a label it gave little probability)."""
    own_first = _alternatives(("a", "START", 0.05), ("b", "START", 0.9), ("c", "START", 0.05))
    assert margin_of(own_first) == pytest.approx(0.85)
    assert close_tasks(own_first, 0.1) is None  # b is far ahead: nothing to ask
    close = _alternatives(("c", "START", 0.1), ("a", "START", 0.46), ("b", "START", 0.44))
    assert close_tasks(close, 0.1) == ["a", "b"]


def test_the_question_names_the_tasks_by_title() -> None:
    assert clarify_question(["find_trains", "buy_train_tickets"], CATALOG) == (
        "Do you mean: Find trains, or Buy train tickets?"
    )
    with pytest.raises(ValueError, match="two tasks"):
        clarify_question(["find_trains", "gone"], CATALOG)


def _graph(answers: list[Prediction], **options):
    replies = iter(answers)
    router = Scripted(lambda routing: next(replies))
    writer = GenericFakeChatModel(messages=iter([AIMessage("Here are your tickets.")]))
    return create_router_graph(CATALOG, router=router, model=writer, **options).compile(checkpointer=InMemorySaver())


def test_the_graph_asks_then_acts_on_the_answer_and_never_asks_twice_in_a_row() -> None:
    app = _graph(
        [Prediction("find_trains", alternatives=CLOSE), Prediction("buy_train_tickets", alternatives=CLOSE)],
        clarify_margin=0.1,
    )
    cfg = {"configurable": {"thread_id": "c"}}
    out = app.invoke({"messages": [("user", "Trains to Paris on Friday")]}, cfg)
    assert out["messages"][-1].content == "Do you mean: Find trains, or Buy train tickets?"
    assert out.get("active_task") is None  # a question, not an action
    assert out["decisions"][-1]["clarify"] == ["find_trains", "buy_train_tickets"]
    out = app.invoke({"messages": [("user", "Buy the tickets")]}, cfg)
    assert (out["decisions"][-1]["event"], out["active_task"]) == ("START", "buy_train_tickets")
    assert out["decisions"][-1]["clarify"] is None
    assert out["messages"][-1].content == "Here are your tickets."


NOTES_CATALOG = TaskCatalog(
    [
        Task(name="recap", description="Recap a meeting.", inputs=[{"name": "notes", "description": "the notes"}]),
        Task(name="post", description="Write a post.", inputs=[{"name": "notes", "description": "the notes"}]),
        Task(name="email", description="Email someone.", inputs=[{"name": "recipient", "description": "who"}]),
    ]
)
CLOSE_NOTES = (("recap", False, 0.47), ("post", False, 0.43))


def _notes_graph(answers: list[Prediction]):
    replies = iter(answers)
    writer = GenericFakeChatModel(messages=iter([AIMessage("Written.")]))
    return create_router_graph(
        NOTES_CATALOG, router=Scripted(lambda routing: next(replies)), model=writer, clarify_margin=0.1
    ).compile(checkpointer=InMemorySaver())


def test_the_task_the_answer_picks_starts_from_the_request_asked_about_with_its_content() -> None:
    """A request with its notes, then "Do you mean ...?", then "the recap": written from the notes, not asked."""
    app = _notes_graph([Prediction("recap", alternatives=CLOSE_NOTES), Prediction("recap", alternatives=CLOSE_NOTES)])
    cfg = {"configurable": {"thread_id": "r"}}
    app.invoke({"messages": [("user", "Write this up: the budget was approved, Ana owns the launch")]}, cfg)
    out = app.invoke({"messages": [("user", "The recap please")]}, cfg)
    assert out["active_task"] == "recap"
    assert out["task_data"]["recap"]["inputs"] == {"notes": "the budget was approved, Ana owns the launch"}
    assert out["messages"][-1].content == "Written."  # written, not "what are the notes?"


def test_an_off_topic_aside_after_the_question_gets_the_question_again_and_the_answer_is_acted_on() -> None:
    """ "Do you mean ...?", then "what's the weather?" (NONE), then "the recap": the None node answers the aside and
    asks again, marked off topic; the answer is acted on, not asked about again, with the notes of the request."""
    from task_router._router_input import is_off_topic_reply

    app = _notes_graph(
        [Prediction("recap", alternatives=CLOSE_NOTES), Prediction(None), Prediction("recap", alternatives=CLOSE_NOTES)]
    )
    cfg = {"configurable": {"thread_id": "aside"}}
    app.invoke({"messages": [("user", "Write this up: the budget was approved, Ana owns the launch")]}, cfg)
    out = app.invoke({"messages": [("user", "What's the weather in Oslo?")]}, cfg)
    assert out["messages"][-1].content == "Sorry, I can't help with that here. Do you mean: Recap, or Post?"
    assert is_off_topic_reply(out["messages"][-1]) and out.get("active_task") is None
    out = app.invoke({"messages": [("user", "The recap please")]}, cfg)
    assert (out["decisions"][-1]["event"], out["decisions"][-1]["clarify"], out["active_task"]) == (
        "START",
        None,
        "recap",
    )
    assert out["task_data"]["recap"]["inputs"] == {"notes": "the budget was approved, Ana owns the launch"}
    assert out["messages"][-1].content == "Written."


def test_a_custom_none_handler_s_reply_to_an_aside_after_the_question_is_read_as_marked() -> None:
    from langchain_core.runnables import RunnableLambda

    from task_router._decision import RouteDecision
    from task_router._router_input import is_off_topic_reply

    close = _alternatives(("recap", "START", 0.47), ("post", "START", 0.43))
    decisions = iter([RouteDecision(event="START", task="recap", alternatives=close), RouteDecision(event="NONE")])
    seen = []

    def router(turn):
        seen.append(turn["messages"])
        return next(decisions, RouteDecision(event="START", task="recap"))

    app = create_router_graph(
        NOTES_CATALOG,
        router=RunnableLambda(router),
        model=GenericFakeChatModel(messages=iter([AIMessage("Written.")])),
        none_handler=lambda state: {"messages": [AIMessage("No weather here.")]},
        clarify_margin=0.1,
    ).compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "custom"}}
    for text in ("Write this up: the budget was approved, Ana owns the launch", "weather?", "The recap"):
        out = app.invoke({"messages": [("user", text)]}, cfg)
    assert [m.content for m in seen[-1] if is_off_topic_reply(m)] == ["No weather here."]
    assert not any(is_off_topic_reply(m) for m in seen[1])
    # stored marked too: the task reads the request the question was about, with its notes
    assert out["task_data"]["recap"]["inputs"] == {"notes": "the budget was approved, Ana owns the launch"}


def test_a_question_answered_is_no_longer_pending_and_a_later_close_call_is_asked() -> None:
    from task_router._clarify import pending_question

    asked = {"event": "START", "task": "recap", "clarify": ["recap", "post"]}
    assert pending_question([asked]) == ["recap", "post"]
    assert pending_question([asked, {"event": "NONE"}, {"event": "NONE", "active_task_after": None}]) == [
        "recap",
        "post",
    ]
    assert pending_question([asked, {"event": "START", "task": "recap"}, {"event": "NONE"}]) is None
    assert pending_question([]) is None


def test_a_task_the_question_did_not_offer_does_not_take_the_request_asked_about() -> None:
    """'Neither: email Sarah' starts the email from its own words, not from the notes the question was about."""
    app = _notes_graph([Prediction("recap", alternatives=CLOSE_NOTES), Prediction("email")])
    cfg = {"configurable": {"thread_id": "n"}}
    app.invoke({"messages": [("user", "Write this up: the budget was approved")]}, cfg)
    out = app.invoke({"messages": [("user", "Neither, I need an email")]}, cfg)
    assert out["active_task"] == "email"
    assert "the budget was approved" not in str(out["task_data"]["email"])


def test_an_answer_mid_task_gives_the_task_the_message_asked_about() -> None:
    """The recap asks for the notes; the notes the user pastes are asked about; "the recap" continues the recap
    with the notes as its answer, not with the words "the recap"."""
    app = _notes_graph(
        [
            Prediction("recap"),
            Prediction("recap", alternatives=CLOSE_NOTES),
            Prediction("recap", alternatives=CLOSE_NOTES),
        ]
    )
    cfg = {"configurable": {"thread_id": "m"}}
    out = app.invoke({"messages": [("user", "I need a recap")]}, cfg)
    assert out["task_data"]["recap"]["asked"] == ["notes"]
    out = app.invoke({"messages": [("user", "Budget approved; Ana owns the launch")]}, cfg)
    assert out["decisions"][-1]["clarify"] == ["recap", "post"]
    out = app.invoke({"messages": [("user", "the recap, and Bob is out")]}, cfg)
    assert out["task_data"]["recap"]["inputs"] == {
        "notes": "Budget approved; Ana owns the launch\nthe recap, and Bob is out"
    }


def test_a_question_checkpointed_before_its_tasks_were_recorded_carries_over_to_any_task() -> None:
    from langchain_core.messages import HumanMessage

    from task_router._clarify import request_asked_about

    old_question = AIMessage("Do you mean: Recap, or Post?", response_metadata={"task_router": "clarify"})
    messages = [HumanMessage("Write this up: notes"), old_question, HumanMessage("the recap")]
    assert request_asked_about(messages, "recap") == "Write this up: notes"


def test_without_a_margin_the_graph_acts_and_a_router_margin_marks_decisions() -> None:
    app = _graph([Prediction("find_trains", alternatives=CLOSE)])
    out = app.invoke({"messages": [("user", "Trains to Paris")]}, {"configurable": {"thread_id": "n"}})
    assert out["active_task"] == "find_trains"
    router = Scripted(lambda routing: Prediction("find_trains", alternatives=CLOSE))
    router.clarify_margin = 0.1
    decision = router.invoke({"messages": ["Trains to Paris"], "catalog": CATALOG})
    assert decision.clarify == ["find_trains", "buy_train_tickets"]
    clear = Scripted(lambda routing: Prediction("buy_train_tickets", alternatives=CLEAR))
    clear.clarify_margin = 0.1
    assert clear.invoke({"messages": ["Buy tickets"], "catalog": CATALOG}).clarify is None
    with pytest.raises(ValueError, match="clarify_margin"):
        create_router_graph(CATALOG, router=router, model=None, clarify_margin=-1)


def test_a_digression_or_an_end_is_not_asked_about_even_with_close_tasks_behind_it() -> None:
    """NONE (off topic, the task stays) and END are answers, not a choice between tasks: no question, whatever the
    alternatives behind them (a decision model may choose NONE while its probabilities split over two tasks)."""
    app = _graph(
        [
            Prediction("weather", alternatives=CLEAR),
            Prediction(None, alternatives=CLOSE),  # off topic, close tasks behind it
            Prediction(None, closing=True, alternatives=CLOSE),  # done, close tasks behind it
        ],
        clarify_margin=0.1,
    )
    cfg = {"configurable": {"thread_id": "d"}}
    app.invoke({"messages": [("user", "Weather in Paris?")]}, cfg)
    out = app.invoke({"messages": [("user", "Tell me a joke")]}, cfg)
    assert (out["decisions"][-1]["event"], out["decisions"][-1]["clarify"]) == ("NONE", None)
    assert out["active_task"] == "weather"  # the digression keeps the task
    assert "Do you mean" not in out["messages"][-1].content
    assert out["messages"][-1].content.startswith("Sorry, I can't help with that here.")
    out = app.invoke({"messages": [("user", "Thanks, that's all")]}, cfg)
    assert (out["decisions"][-1]["event"], out["decisions"][-1]["clarify"]) == ("END", None)
    assert out.get("active_task") is None


def test_a_router_margin_does_not_mark_a_none_or_end_decision() -> None:
    router = Scripted(lambda routing: Prediction(None, alternatives=CLOSE))
    router.clarify_margin = 0.1
    decision = router.invoke({"messages": ["Tell me a joke"], "active_task": "weather", "catalog": CATALOG})
    assert (decision.event, decision.active_task_after, decision.clarify) == ("NONE", "weather", None)
    done = Scripted(lambda routing: Prediction(None, closing=True, alternatives=CLOSE))
    done.clarify_margin = 0.1
    decision = done.invoke({"messages": ["Thanks, bye"], "active_task": "weather", "catalog": CATALOG})
    assert (decision.event, decision.clarify) == ("END", None)


def test_a_question_naming_a_task_removed_meanwhile_is_not_asked_and_the_turn_is_kept() -> None:
    """The catalogue is edited while the router decides: a question between a live task and a removed one is not a
    question (the graph acts on the decision) and never a crash of the turn."""
    catalog = TaskCatalog([Task(name=task.name, description=task.description) for task in CATALOG])

    def answer(routing):
        catalog.remove("buy_train_tickets")  # another thread edits the catalogue mid-decision
        return Prediction("find_trains", alternatives=CLOSE)

    router = Scripted(answer)
    router.clarify_margin = 0.1
    writer = GenericFakeChatModel(messages=iter([AIMessage("Here are the trains.")]))
    app = create_router_graph(catalog, router=router, model=writer).compile(checkpointer=InMemorySaver())
    out = app.invoke({"messages": [("user", "Trains to Paris")]}, {"configurable": {"thread_id": "r"}})
    assert (out["decisions"][-1]["event"], out["decisions"][-1]["clarify"]) == ("START", None)
    assert out["active_task"] == "find_trains"
    assert out["messages"][-1].content == "Here are the trains."


def test_a_composition_naming_unknown_tasks_in_clarify_is_not_asked() -> None:
    """A Runnable given as ``router`` is used as it is: a ``clarify`` naming tasks outside the catalogue (untrusted
    output) is dropped, not a crash of the clarify node."""
    from langchain_core.runnables import RunnableLambda

    from task_router import RouteDecision

    decisions = iter([RouteDecision(event="START", task="find_trains", clarify=["find_trains", "made_up"])])
    router = RunnableLambda(lambda payload: next(decisions))
    writer = GenericFakeChatModel(messages=iter([AIMessage("Here are the trains.")]))
    app = create_router_graph(CATALOG, router=router, model=writer).compile(checkpointer=InMemorySaver())
    out = app.invoke({"messages": [("user", "Trains to Paris")]}, {"configurable": {"thread_id": "u"}})
    assert (out["decisions"][-1]["event"], out["decisions"][-1]["clarify"]) == ("START", None)
    assert out["active_task"] == "find_trains"


def test_a_task_with_probability_0_is_not_asked_about_when_a_better_answer_is_ranked() -> None:
    # the learned router's probabilities: a softmax over its three best answers, 0 for the rest; with "nothing
    # fits" third, a wide margin must not reach past it to a task the router gave probability 0
    alternatives = _alternatives(
        ("find_trains", "START", 0.584),
        ("buy_train_tickets", "START", 0.273),
        (None, "NONE", 0.143),
        ("weather", "START", 0.0),
    )
    assert close_tasks(alternatives, 0.75) == ["find_trains", "buy_train_tickets"]


def test_the_request_asked_about_is_found_past_an_off_topic_aside_after_the_question() -> None:
    from langchain_core.messages import HumanMessage

    from task_router._clarify import question_message, request_asked_about
    from task_router._router_input import off_topic_reply

    asked = [HumanMessage("Write this up: notes"), question_message("Do you mean: Recap, or Post?", ["recap", "post"])]
    aside = [HumanMessage("what's the weather?"), off_topic_reply("Sorry, I can't help with that here.")]
    assert request_asked_about([*asked, *aside, HumanMessage("the recap")], "recap") == "Write this up: notes"
    assert request_asked_about([*asked, HumanMessage("hm"), AIMessage("ok"), HumanMessage("the recap")], "recap") == ""
