"""TaskRouterDecisionModel: routers answering LangChain `Choice` questions (no model download: fake routers and the
embedding router over a bag-of-words encoder)."""

from __future__ import annotations

import asyncio
import math

import pytest
from langchain_core.decisions import Choice, Noul
from langchain_core.messages import AIMessage, HumanMessage

from task_router.decision_models import TaskRouterDecisionModel, choice_answer, label_catalog, state_messages
from task_router.routers._base import Prediction
from task_router.routers._embedding import EmbeddingRouter
from tests.unit_tests.fakes import Scripted, Words

TEAMS = {
    "billing team": "Invoices, refunds, payments and subscription charges.",
    "technical": "Bugs, crashes, error messages and broken features of the app.",
}


def _ask(classifier, state, criteria, *, asynchronous=False, config=None):
    request = {"state": state, "questions": {"team": Choice(instructions="Which team?", criteria=criteria)}}
    if asynchronous:
        return asyncio.run(classifier.ainvoke(request, config)).choices["team"]
    return classifier.invoke(request, config).choices["team"]


@pytest.fixture
def embedding_classifier() -> TaskRouterDecisionModel:
    return TaskRouterDecisionModel(router=EmbeddingRouter(encoder=Words(), closing_phrases=()))


def test_labels_become_tasks_and_invalid_labels_get_valid_names() -> None:
    labels = label_catalog([("billing team", "Invoices."), ("billing_team", "Other invoices."), ("none", "x")])
    assert labels.catalog.names == ["billing_team_2", "billing_team"]  # the valid label keeps its own name
    assert labels.label_of == {"billing_team_2": "billing team", "billing_team": "billing_team"}
    assert labels.none_labels == ("none",)
    with pytest.raises(ValueError, match="add the labels"):
        label_catalog([("Other", "Anything."), ("none of the above", "Nothing.")])


def test_nothing_fits_without_a_none_label_lowers_the_confidence_only() -> None:
    labels = label_catalog([("recap", "Recap a meeting."), ("email", "Write an email.")])
    answer = choice_answer(labels, [(None, 0.6), ("recap", 0.3), ("email", 0.1)])
    assert answer.choice == "recap"  # a Choice without "none" cannot say it: the most probable label
    assert math.isclose(sum(answer.probabilities.values()), 1.0)
    assert math.isclose(answer.probabilities["recap"], 0.75)
    assert math.isclose(answer.confidence, 0.3)  # its probability, counting the chance that nothing fits


def test_a_none_label_gets_the_probability_that_nothing_fits() -> None:
    labels = label_catalog([("recap", "Recap a meeting."), ("email", "Write an email."), ("other", "Else.")])
    answer = choice_answer(labels, [(None, 0.6), ("recap", 0.3), ("email", 0.1)])
    assert answer.choice == "other"
    assert list(answer.probabilities) == ["recap", "email", "other"]  # the Choice's order
    assert math.isclose(answer.probabilities["other"], 0.6) and math.isclose(answer.confidence, 0.6)


def test_alternatives_of_a_router_that_ranks_only_a_few_leave_the_rest_spread() -> None:
    labels = label_catalog([(f"t{i}", f"Task {i}.") for i in range(4)])
    answer = choice_answer(labels, [("t2", 0.7), ("t0", 0.1)])
    assert answer.choice == "t2"
    assert math.isclose(answer.probabilities["t1"], 0.1) and math.isclose(answer.probabilities["t3"], 0.1)
    assert math.isclose(sum(answer.probabilities.values()), 1.0)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_the_embedding_router_answers_a_choice(embedding_classifier, asynchronous) -> None:
    criteria = {**TEAMS, "other": "Anything else."}
    answer = _ask(embedding_classifier, "The app crashes with an error message", criteria, asynchronous=asynchronous)
    assert answer.choice == "technical"
    assert set(answer.probabilities) == set(criteria)
    assert math.isclose(sum(answer.probabilities.values()), 1.0, abs_tol=1e-6)
    assert math.isclose(answer.confidence, max(answer.probabilities.values()))
    billing = _ask(
        embedding_classifier, "Refunds of my subscription payments, please", criteria, asynchronous=asynchronous
    )
    assert billing.choice == "billing team"  # the label, not the task name it was routed as


def test_sync_and_async_answers_agree(embedding_classifier) -> None:
    text = "My invoice shows the wrong payments"
    assert _ask(embedding_classifier, text, TEAMS) == _ask(embedding_classifier, text, TEAMS, asynchronous=True)


def test_a_router_with_scored_gives_its_whole_distribution() -> None:
    class ScoredRouter(Scripted):
        def scored(self, routing):
            self.seen.append(routing.catalog.names)
            return [("technical", False, 0.5, 0.9), (None, False, 0.3, 0.2), ("billing_team", False, 0.2, 0.1)]

    router = ScoredRouter(lambda routing: pytest.fail("scored() decides, not predict()"))
    classifier = TaskRouterDecisionModel(router=router)
    for asynchronous in (False, True):
        answer = _ask(classifier, "anything", TEAMS, asynchronous=asynchronous)
        assert answer.choice == "technical"
        assert math.isclose(answer.probabilities["technical"], 0.5 / 0.7)
        assert math.isclose(answer.confidence, 0.5)
    assert router.seen == [["billing_team", "technical"]] * 2
    assert classifier.model == "task-router:fake"


def test_a_router_without_alternatives_answers_at_its_confidence() -> None:
    router = Scripted(lambda routing: Prediction("technical", confidence=0.8))
    answer = _ask(TaskRouterDecisionModel(router=router), "hello", TEAMS)
    assert answer.choice == "technical" and math.isclose(answer.confidence, 0.8)
    assert math.isclose(answer.probabilities["billing team"], 0.2)


def test_the_catalogue_is_cached_per_set_of_criteria() -> None:
    router = Scripted(lambda routing: Prediction("technical", confidence=0.8))
    classifier = TaskRouterDecisionModel(router=router)
    _ask(classifier, "a", TEAMS)
    _ask(classifier, "b", TEAMS)
    _ask(classifier, "c", {**TEAMS, "sales": "Pricing questions."})
    assert classifier._catalogs.cache_info().currsize == 2


def test_state_becomes_the_routers_conversation() -> None:
    conversation = [HumanMessage("Recap my meeting"), AIMessage("Sure, paste the notes."), HumanMessage("Here: ...")]
    assert state_messages(conversation) == conversation
    assert state_messages([*conversation, AIMessage("Done.")]) == conversation  # up to the user's latest turn
    assert state_messages({"messages": conversation}) == conversation
    assert state_messages({"ticket": 12})[0].content == '{"ticket": 12}'
    with pytest.raises(ValueError, match="no user message"):
        state_messages([AIMessage("hello")])


def test_other_questions_and_other_objects_are_refused_with_the_fix() -> None:
    classifier = TaskRouterDecisionModel(router=Scripted(lambda routing: Prediction(None)))
    with pytest.raises(ValueError, match="answers Choice questions only"):
        classifier.invoke({"state": "hi", "questions": {"urgent": Noul(instructions="Is it urgent?")}})
    with pytest.raises(ValueError, match="must be a task router"):
        TaskRouterDecisionModel(router=42)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_router_with_scored_times_out_alike_in_sync_and_async(asynchronous) -> None:
    """The learned router's distribution is computed within the router's time-out, in ainvoke as in invoke: the
    error is a DecisionTimeout naming where the time-out was set (not a bare TimeoutError in async)."""
    import threading

    from task_router._budget import DecisionTimeout

    release = threading.Event()

    class SlowScored(Scripted):
        def scored(self, routing):
            release.wait(10)
            return [("technical", False, 1.0, 0.9)]

    router = SlowScored(lambda routing: pytest.fail("scored() decides, not predict()"))
    router.timeout_s = 0.2
    try:
        with pytest.raises(DecisionTimeout, match=r"timed out after 0.2 s \(the router's timeout_s"):
            _ask(TaskRouterDecisionModel(router=router), "anything", TEAMS, asynchronous=asynchronous)
    finally:
        release.set()


@pytest.mark.parametrize("asynchronous", [False, True])
def test_the_calls_own_time_out_key_bounds_a_scored_router_as_it_bounds_a_router_call(asynchronous) -> None:
    """``config={"configurable": {"router_timeout_s": ...}}`` on the decision model's call is the decision's time-out,
    as on a router's own invoke; a bad value is refused naming the key."""
    import threading

    from task_router._budget import DecisionTimeout

    release = threading.Event()

    class SlowScored(Scripted):
        def scored(self, routing):
            release.wait(10)
            return [("technical", False, 1.0, 0.9)]

    classifier = TaskRouterDecisionModel(router=SlowScored(lambda routing: pytest.fail("scored() decides")))
    try:
        with pytest.raises(DecisionTimeout, match=r"after 0.2 s \(set by the call's config\['configurable'\]"):
            _ask(classifier, "x", TEAMS, asynchronous=asynchronous, config={"configurable": {"router_timeout_s": 0.2}})
        with pytest.raises(ValueError, match="router_timeout_s"):
            _ask(classifier, "x", TEAMS, asynchronous=asynchronous, config={"configurable": {"router_timeout_s": "x"}})
    finally:
        release.set()
