"""The scoring router on a tiny real Llama: valid by construction, caches invisible in the decisions."""

from __future__ import annotations

import threading

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage

from task_router._catalog import Task, TaskCatalog
from task_router._router_input import coerce_input
from task_router.routers._scoring import ScoringRouter
from tests.conftest import with_replies
from tests.unit_tests.inference.tiny_model import tiny_local_model

TASKS = [
    Task(name="meeting_recap", description="Summarise a meeting into decisions and actions."),
    Task(name="follow_up_email", description="Write a follow-up email after a call."),
    Task(name="linkedin_post", description="Draft a LinkedIn post."),
]
TURNS = [
    "Can you recap the meeting we just had?",
    "We decided to ship on Friday.",
    "Now write a follow-up email to the client.",
    "Make it shorter please.",
    "Thanks, that's all!",
]


def _conversation(turns: list[str]) -> list:
    return with_replies(turns, lambda i: f"Noted ({i}).")


def _replay(
    router: ScoringRouter,
    catalog: TaskCatalog,
    thread: str | None,
    edit_at: int | None = None,
    names_seen: list[list[str]] | None = None,
) -> list:
    decisions, active = [], None
    for i in range(1, len(TURNS) + 1):
        if i == edit_at:
            catalog.remove("linkedin_post")
            catalog.update("meeting_recap", description="Write the minutes of a meeting.")
        config = {"configurable": {"thread_id": thread}} if thread else {}
        decision = router.invoke({"messages": _conversation(TURNS[:i]), "active_task": active}, config)
        decisions.append(decision)
        if names_seen is not None:
            names_seen.append(catalog.names)
        active = decision.active_task_after
    return decisions


@pytest.fixture(scope="module")
def local():
    return tiny_local_model()


def test_always_valid_and_inside_the_catalogue(local) -> None:
    catalog = TaskCatalog(TASKS)
    router = ScoringRouter(local, catalog=catalog)
    names_seen: list[list[str]] = []
    decisions = _replay(router, catalog, "t1", edit_at=3, names_seen=names_seen)
    for decision, names in zip(decisions, names_seen, strict=True):
        assert decision.valid_format
        assert decision.task is None or decision.task in names  # the catalogue at the moment of the decision
        assert 0.0 <= decision.confidence <= 1.0
        assert decision.router == "scoring"


def test_edited_catalogue_is_read_at_once(local) -> None:
    catalog = TaskCatalog(TASKS)
    router = ScoringRouter(local, catalog=catalog)
    config = {"configurable": {"thread_id": "t"}}
    router.invoke({"messages": _conversation(TURNS[:1])}, config)
    for name in ("meeting_recap", "follow_up_email"):
        catalog.remove(name)
    labels = router.scores(_routing(catalog, TURNS[:2]), config)["labels"]
    assert labels == ["linkedin_post", "NONE"]


def _routing(catalog: TaskCatalog, turns: list[str]):
    from task_router._router_input import coerce_input

    return coerce_input({"messages": _conversation(turns), "catalog": catalog})


@pytest.mark.parametrize(("calibrate", "distinct"), [(True, False), (False, False), (True, True)])
def test_cached_and_uncached_paths_decide_the_same(local, calibrate: bool, distinct: bool) -> None:
    options = {"calibrate": calibrate, "distinct_prefix": distinct, "window": 2, "stride": 2}
    uncached_catalog, cached_catalog = TaskCatalog(TASKS), TaskCatalog(TASKS)
    uncached = ScoringRouter(local, catalog=uncached_catalog, cache=False, **options)
    cached = ScoringRouter(local, catalog=cached_catalog, **options)
    expected = _replay(uncached, uncached_catalog, None, edit_at=3)
    # Two threads interleaved on the same router, one of them across the catalogue edit.
    results: dict[str, list] = {}
    other_catalog = TaskCatalog(TASKS)
    other = ScoringRouter(local, catalog=other_catalog, **options)
    other.engine = cached.engine  # share the engine (and its caches) with the first router's catalogue
    workers = [
        threading.Thread(target=lambda: results.__setitem__("a", _replay(cached, cached_catalog, "a", edit_at=3))),
        threading.Thread(target=lambda: results.__setitem__("b", _replay(other, other_catalog, "b"))),
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert [(d.event, d.task) for d in results["a"]] == [(d.event, d.task) for d in expected]
    for got, want in zip(results["a"], expected, strict=True):
        assert got.confidence == pytest.approx(want.confidence, abs=1e-3)
    plain_catalog = TaskCatalog(TASKS)
    plain = ScoringRouter(local, catalog=plain_catalog, cache=False, **options)
    unedited = _replay(plain, plain_catalog, None)
    assert [(d.event, d.task) for d in results["b"]] == [(d.event, d.task) for d in unedited]
    assert cached.engine.store.hits > 0


def test_resumed_thread_rebuilds_a_cold_cache(local) -> None:
    catalog = TaskCatalog(TASKS)
    first = ScoringRouter(local, catalog=catalog)
    warm = _replay(first, catalog, "t")
    second = ScoringRouter(local, catalog=catalog)  # a new process: empty caches
    routing_input = {"messages": _conversation(TURNS), "active_task": warm[-2].active_task_after}
    resumed = second.invoke(routing_input, {"configurable": {"thread_id": "t"}})
    assert (resumed.event, resumed.task) == (warm[-1].event, warm[-1].task)
    assert second.engine.store.misses == 1


@pytest.mark.parametrize("window", [8, 2])  # 2: the visible window shifts mid-conversation
def test_prefilled_reply_leaves_only_the_user_turn_and_the_same_decisions(local, window: int) -> None:
    catalog = TaskCatalog(TASKS)
    reference = ScoringRouter(local, catalog=catalog, cache=False, window=window, stride=window)
    router = ScoringRouter(local, catalog=catalog, window=window, stride=window)
    config = {"configurable": {"thread_id": "p"}}
    active = None
    for i in range(1, len(TURNS) + 1):
        messages = _conversation(TURNS[:i])
        if i > 1:  # the assistant has just replied: prefill before the user's next turn arrives
            assert router.prefill({"messages": messages[:-1]}, config) > 0
            assert router.prefill({"messages": messages[:-1]}, config) == 0  # already there
        turn = {"messages": messages, "active_task": active, "catalog": catalog}
        if i > 1 and window == 8:  # (a shifted window is recomputed by the prefill, not by the decision)
            computed = router.scores(coerce_input(turn), config)["result"].computed_tokens
            assert computed == len(router.layout.message_ids(messages[-1])) + len(router.layout.suffix_ids(active))
        got = router.invoke(turn, config)
        want = reference.invoke(turn)
        assert (got.event, got.task) == (want.event, want.task)
        assert got.confidence == pytest.approx(want.confidence, abs=1e-3)
        active = got.active_task_after
    assert router.prefill({"messages": _conversation(TURNS[:1])}, {}) == 0  # no thread id: nothing to keep


def test_a_model_it_cannot_score_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="structured"):
        ScoringRouter("openai:gpt-4o-mini")
    with pytest.raises(ValueError, match="local"):
        ScoringRouter(GenericFakeChatModel(messages=iter(["hi"])))


def test_distinct_prefixes_cut_after_the_first_unshared_token() -> None:
    from task_router.routers._scoring import distinct_prefixes

    assert distinct_prefixes([(1, 2, 3), (1, 4, 5), (6, 7), (6,)]) == [(1, 2), (1, 4), (6, 7), (6,)]


def test_graph_prefills_the_reply_for_the_next_decision(local) -> None:
    from langgraph.checkpoint.memory import InMemorySaver

    from task_router import create_router_graph

    catalog = TaskCatalog(TASKS)
    router = ScoringRouter(local, catalog=catalog)
    prefilled, prefill = threading.Event(), router.prefill

    def tracked(*args, **kwargs):
        try:
            return prefill(*args, **kwargs)
        finally:
            prefilled.set()

    router.prefill = tracked
    replies = GenericFakeChatModel(messages=iter([AIMessage(f"Here you are ({i}).") for i in range(10)]))
    graph = create_router_graph(catalog, router=router, model=replies).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "g"}}
    state = graph.invoke({"messages": [HumanMessage(TURNS[0])]}, config)
    assert prefilled.wait(60)  # the prefill runs on a decision thread, after the reply
    entry = router.engine.store.checkout("g")
    assert entry is not None and entry.ids[-1] == router.layout.conversation_ids(state["messages"])[-1]
    router.engine.store.checkin("g", entry)
    messages = [*state["messages"], HumanMessage(TURNS[1])]
    turn = coerce_input({"messages": messages, "active_task": state["active_task"], "catalog": catalog})
    computed = router.scores(turn, config)["result"].computed_tokens
    assert computed == len(router.layout.message_ids(messages[-1])) + len(router.layout.suffix_ids(turn.active_task))


def test_alternatives_are_the_scored_answers_decision_first(local) -> None:
    catalog = TaskCatalog(TASKS)
    router = ScoringRouter(local, catalog=catalog)
    for decision in _replay(router, catalog, None):
        alternatives = decision.alternatives
        assert len(alternatives) == len(TASKS) + 1  # every task and NONE
        assert (alternatives[0].event, alternatives[0].task) == (decision.event, decision.task)
        assert sum(a.probability for a in alternatives) == pytest.approx(1.0, abs=1e-6)
        assert [a.probability for a in alternatives] == sorted((a.probability for a in alternatives), reverse=True)
