"""The conversation graph with a scripted router model and a fake chat model (pure logic)."""

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langgraph.checkpoint.memory import InMemorySaver

from task_router import Task, TaskCatalog, create_router_graph, make_router
from task_router._router_input import is_off_topic_reply, without_off_topic_exchanges
from tests.conftest import choice, scripted_model

CFG = {"configurable": {"thread_id": "t1"}}


def writer(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter(AIMessage(r) for r in replies))


def build(catalog, router_replies, writer_replies=(), **kwargs):
    router = make_router("structured", model=scripted_model(*router_replies))
    graph = create_router_graph(catalog, router=router, model=writer(*writer_replies), **kwargs)
    return graph.compile(checkpointer=InMemorySaver())


def say(app, text, cfg=CFG):
    return app.invoke({"messages": [("user", text)]}, cfg)


def test_start_collect_produce_switch_end_none(catalog):
    app = build(
        catalog,
        [
            choice("recap"),
            choice("recap"),
            choice("post"),
            choice("post", True),
            choice("NONE"),
            choice("recap"),
            choice("NONE"),
        ],
        ["RECAP: decided X.", "POST: we shipped!", "RECAP again"],
    )
    out = say(app, "Recap my meeting please")
    assert out["active_task"] == "recap"
    assert "meeting notes" in out["messages"][-1].content  # asks for the missing input
    out = say(app, "We decided X; Bob owns Y.")
    assert out["messages"][-1].content == "RECAP: decided X."
    assert out["task_data"]["recap"]["inputs"] == {"notes": "We decided X; Bob owns Y."}
    out = say(app, "Now a LinkedIn post about it")
    assert out["active_task"] == "post" and out["messages"][-1].content == "POST: we shipped!"
    out = say(app, "Perfect, thanks!")
    assert out["active_task"] is None and "LinkedIn post" in out["messages"][-1].content
    assert "post" not in out["task_data"]
    out = say(app, "What's the weather tomorrow?")
    assert out["messages"][-1].content.startswith("I can't help with that")
    assert not is_off_topic_reply(out["messages"][-1])  # nothing active: not a digression, nothing to read past
    assert [d["event"] for d in out["decisions"]] == ["START", "CONTINUE", "SWITCH", "END", "NONE"]
    # recap was switched away from, not ended: it resumes with the notes it had collected
    assert say(app, "Recap my meeting please")["messages"][-1].content == "RECAP again"
    # off topic while recap is active: a digression, answered by the None node, and recap stays active
    out = say(app, "What's the weather tomorrow?")
    assert out["decisions"][-1]["event"] == "NONE" and out["active_task"] == "recap"
    assert out["messages"][-1].content == "Sorry, I can't help with that here. Shall we go on with Recap?"


def test_a_digression_is_answered_and_its_task_resumes_with_its_question(catalog):
    app = build(catalog, [choice("recap"), choice("NONE"), choice("recap")], ["RECAP: decided X."])
    asked = say(app, "Recap my meeting please")["messages"][-1].content
    out = say(app, "By the way, who won the match last night?")
    assert (out["decisions"][-1]["event"], out["active_task"]) == ("NONE", "recap")
    assert out["decisions"][-1]["active_task_after"] == "recap"
    assert out["messages"][-1].content == f"Sorry, I can't help with that here. Back to Recap: {asked}"
    assert is_off_topic_reply(out["messages"][-1])  # the router reads the next turn past the off-topic exchange
    out = say(app, "We decided X; Bob owns Y.")
    assert out["decisions"][-1]["event"] == "CONTINUE" and out["messages"][-1].content == "RECAP: decided X."
    # the digression was not taken as the recap's notes
    assert out["task_data"]["recap"]["inputs"] == {"notes": "We decided X; Bob owns Y."}


def test_catalogue_edits_during_a_running_thread(catalog):
    app = build(catalog, [choice("email"), choice("email"), choice("email"), choice("pitch")], ["PITCH"])
    assert say(app, "Follow-up email please")["active_task"] == "email"
    catalog.remove("email")  # the active task disappears mid-thread
    catalog.add(Task(name="pitch", description="A one-minute pitch."))
    out = say(app, "still the email")
    # The model insists on the removed task (and again when re-asked): the decision may not name it.
    assert out["decisions"][-1]["task"] is None and out["decisions"][-1]["event"] == "NONE"
    assert not out["decisions"][-1]["valid_format"]
    out = say(app, "then a pitch")
    assert (out["decisions"][-1]["event"], out["active_task"]) == ("START", "pitch")
    assert out["messages"][-1].content == "PITCH"


def test_custom_task_subgraph_and_none_handler(catalog):
    seen = []

    def my_post(state):
        seen.append(state["active_task"])
        return {"messages": [AIMessage("custom post")]}

    app = build(
        catalog,
        [choice("post"), choice("post", True), choice("NONE")],
        task_graphs={"post": my_post},
        none_handler=lambda state: {"messages": [AIMessage("nope")]},
    )
    assert say(app, "post")["messages"][-1].content == "custom post"
    say(app, "thanks, bye")
    assert say(app, "weather")["messages"][-1].content == "nope"
    assert seen == ["post"]


def test_a_custom_none_handler_s_reply_to_a_digression_is_read_as_marked(catalog):
    """The next turn is routed past the off-topic exchange, though the handler did not mark its reply; the state
    then holds the reply marked, as the router read it."""
    inner = make_router("structured", model=scripted_model(choice("post"), choice("NONE"), choice("post")))
    seen = []

    def router(turn):
        seen.append(turn["messages"])
        return inner.invoke(turn)

    graph = create_router_graph(
        catalog,
        router=RunnableLambda(router),
        task_graphs={"post": lambda state: {"messages": [AIMessage("Which launch is it about?")]}},
        none_handler=lambda state: {"messages": [AIMessage("No weather here.")]},
    )
    app = graph.compile(checkpointer=InMemorySaver())
    say(app, "Write a post")
    assert say(app, "weather?")["active_task"] == "post"
    out = say(app, "The v2 launch")
    assert is_off_topic_reply(out["messages"][-3])  # stored marked too (replaced by its id), once read as marked
    assert [m.content for m in out["messages"]].count("No weather here.") == 1
    assert [m.content for m in without_off_topic_exchanges(seen[-1])] == [
        "Write a post",
        "Which launch is it about?",
        "The v2 launch",
    ]
    assert not any(is_off_topic_reply(m) for m in seen[1])  # a reply is read as marked only after a digression


def test_factory_errors_name_the_fix(catalog):
    with pytest.raises(ValueError, match="not in the catalogue"):
        create_router_graph(catalog, router=make_router("structured", model=scripted_model()), task_graphs={"x": 1})
    with pytest.raises(ValueError, match="TaskCatalog"):
        create_router_graph([{"name": "a"}], router=make_router("structured", model=scripted_model()))


def test_threads_are_independent(catalog):
    app = build(catalog, [choice("recap"), choice("post")], ["POST"])
    say(app, "recap", {"configurable": {"thread_id": "a"}})
    out = say(app, "post", {"configurable": {"thread_id": "b"}})
    assert out["decisions"][-1]["event"] == "START"
    assert app.get_state({"configurable": {"thread_id": "a"}}).values["active_task"] == "recap"


def test_a_chat_message_with_role_user_is_routed_like_a_human_message(catalog):
    from langchain_core.messages import ChatMessage

    app = build(catalog, [choice("email")], ["EMAIL"])
    out = app.invoke({"messages": [ChatMessage(role="user", content="Follow-up email please")]}, CFG)
    assert out["decisions"][-1]["event"] == "START" and out["active_task"] == "email"


def test_add_task_router_routes_a_graph_of_your_own():
    from langgraph.graph import END, StateGraph

    from task_router import RouterState, add_task_router

    catalog = TaskCatalog([Task(name="recap", description="Recap a meeting."), Task(name="post", description="Post.")])
    builder = StateGraph(RouterState)
    builder.add_node("my_recap", lambda state: {"messages": [AIMessage("recap by my node")]})
    builder.add_node("audit", lambda state: {"messages": [AIMessage("audited")]})
    builder.add_edge("my_recap", "audit")  # your own edges are kept
    builder.add_edge("audit", END)
    router = make_router("structured", model=scripted_model(choice("recap"), choice("NONE"), choice("post")))
    app = add_task_router(builder, catalog, router=router, task_nodes={"recap": "my_recap"}).compile(
        checkpointer=InMemorySaver()
    )
    replies = [message.content for message in say(app, "recap the meeting")["messages"][-2:]]
    assert replies == ["recap by my node", "audited"]
    assert say(app, "weather?")["active_task"] == "recap"  # a digression: the None node, the task stays active
    with pytest.raises(ValueError, match="add it to task_nodes or give default_task_node"):
        say(app, "a post")


def test_add_task_router_errors_name_the_fix(catalog):
    from langgraph.graph import StateGraph
    from typing_extensions import TypedDict

    from task_router import RouterState, add_task_router

    class Other(TypedDict):
        text: str

    router = make_router("structured", model=scripted_model())
    with pytest.raises(ValueError, match="RouterState"):
        add_task_router(StateGraph(Other), catalog, router=router)
    with pytest.raises(ValueError, match="not in the catalogue"):
        add_task_router(StateGraph(RouterState), catalog, router=router, task_nodes={"x": "x"})
    builder = StateGraph(RouterState)
    builder.add_node("none", lambda state: {})
    with pytest.raises(ValueError, match="rename yours"):
        add_task_router(builder, catalog, router=router)


def test_a_composition_s_decisions_are_held_to_the_contract_before_the_graph_acts() -> None:
    """Any Runnable given as ``router`` is used as it is, so its decisions are untrusted: a NONE keeps the active
    task whatever its ``active_task_after`` says (left out, or a made-up name), and a task outside the catalogue
    keeps the active task instead of being run or stored."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langgraph.checkpoint.memory import InMemorySaver

    from task_router import RouteDecision, Task, TaskCatalog, create_router_graph

    catalog = TaskCatalog(
        [Task(name="weather", description="Get the weather."), Task(name="news", description="News.")]
    )
    decisions = iter(
        [
            RouteDecision(event="START", task="weather"),
            RouteDecision(event="NONE"),  # active_task_after left out
            RouteDecision(event="NONE", active_task_after="made_up"),
            RouteDecision(event="SWITCH", task="made_up"),
        ]
    )
    writer = GenericFakeChatModel(messages=iter([AIMessage("Sunny.")] * 4))
    router = RunnableLambda(lambda payload: next(decisions))
    app = create_router_graph(catalog, router=router, model=writer).compile(checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "c"}}
    assert app.invoke({"messages": [("user", "Weather in Oslo?")]}, cfg)["active_task"] == "weather"
    for text in ("Tell me a joke", "Another joke"):
        out = app.invoke({"messages": [("user", text)]}, cfg)
        assert (out["decisions"][-1]["event"], out["decisions"][-1]["active_task_after"]) == ("NONE", "weather")
        assert out["active_task"] == "weather"
        assert out["messages"][-1].content.startswith("Sorry, I can't help with that here.")
    out = app.invoke({"messages": [("user", "And tomorrow?")]}, cfg)
    assert (out["decisions"][-1]["event"], out["decisions"][-1]["task"]) == ("CONTINUE", "weather")
    assert out["decisions"][-1]["valid_format"] is False and "made_up" in out["decisions"][-1]["fallback"]
    assert out["active_task"] == "weather"
