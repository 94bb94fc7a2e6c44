"""The `decision` router: a LangChain decision model answers one Choice per turn (a fake decision model, and
langchain-openai's OpenAIClassifier against the loopback FaultServer's Decisions API)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.decisions import BaseDecisionModel, ChoiceAnswer, ClassifierResponse
from langchain_core.messages import AIMessage, ToolMessage
from pydantic import Field

from task_router import Task, TaskCatalog, make_router
from tests.conftest import user_turns
from tests.fault_server import FaultServer, keyword_decision

Answerer = Callable[[Any, Any], dict[str, float]]


class FixedDecisionModel(BaseDecisionModel):
    """Answers every Choice with the probabilities ``answer(state, choice)`` gives its labels (others: 0)."""

    model: str = "fixed"
    answer: Any = None
    seen: list = Field(default_factory=list)

    @property
    def _provider(self) -> str:
        return "fake"

    def _classify(self, state, questions) -> ClassifierResponse:
        answers = {}
        for question_id, question in questions.items():
            self.seen.append((state, question))
            given = self.answer(state, question)
            probabilities = {label: given.get(label, 0.0) for label in question.criteria}
            chosen = max(given, key=given.__getitem__)
            answers[question_id] = ChoiceAnswer(
                type="choice", choice=chosen, probabilities=probabilities, confidence=given.get(chosen, 0.0)
            )
        return ClassifierResponse(model=self.model, answers=answers)


def _router(catalog, answer: dict[str, float] | Answerer):
    fixed = FixedDecisionModel(answer=answer if callable(answer) else lambda state, question: answer, seen=[])
    return make_router("decision", decision_model=fixed, catalog=catalog), fixed


def _route(router, texts, active=None, *, asynchronous=False):
    turn = {"messages": user_turns(texts), "active_task": active}
    return asyncio.run(router.ainvoke(turn)) if asynchronous else router.invoke(turn)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_task_with_nothing_active_starts_with_the_models_probability(catalog, asynchronous) -> None:
    router, fixed = _router(catalog, {"recap": 0.7, "NONE": 0.2, "email": 0.1})
    decision = _route(router, ["Recap my meeting"], asynchronous=asynchronous)
    assert (decision.event, decision.task, decision.router, decision.model) == ("START", "recap", "decision", "fixed")
    assert math.isclose(decision.confidence, 0.7)
    assert [(a.event, a.task, round(a.probability, 2)) for a in decision.alternatives][:3] == [
        ("START", "recap", 0.7),
        ("NONE", None, 0.2),
        ("START", "email", 0.1),
    ]
    state, question = fixed.seen[-1]
    assert list(question.criteria) == ["recap", "email", "post", "NONE"]  # no DONE: nothing is active
    assert question.criteria["post"] == "Draft a LinkedIn post."
    assert [m.content for m in state] == ["Recap my meeting"]


def test_the_models_choice_comes_first_in_the_alternatives_even_when_it_is_not_its_most_probable_label(
    catalog,
) -> None:
    """docs/contract.md: alternatives are most probable first, the decision's own answer first."""

    class ChoosesEmail(FixedDecisionModel):
        def _classify(self, state, questions):
            response = super()._classify(state, questions)
            for answer in response.answers.values():
                answer.choice = "email"  # a provider whose choice is not its most probable label
            return response

    router = make_router(
        "decision", decision_model=ChoosesEmail(answer=lambda s, q: {"recap": 0.5, "email": 0.3}), catalog=catalog
    )
    decision = router.invoke({"messages": user_turns(["Recap my meeting"]), "active_task": None})
    assert decision.task == "email"
    assert [(a.task, round(a.probability, 2)) for a in decision.alternatives][:2] == [("email", 0.3), ("recap", 0.5)]


def test_the_active_task_continues_another_switches_done_ends_none_digresses(catalog) -> None:
    for label, expected in [
        ("recap", ("CONTINUE", "recap", "recap")),
        ("email", ("SWITCH", "email", "email")),
        ("DONE", ("END", "recap", None)),
        ("NONE", ("NONE", None, "recap")),  # off-topic: the task stays active
    ]:
        router, fixed = _router(catalog, {label: 0.8, "post": 0.2})
        decision = _route(router, ["Recap my meeting", "next thing"], active="recap")
        assert (decision.event, decision.task, decision.active_task_after) == expected, label
        assert math.isclose(decision.confidence, 0.8)
    _, question = fixed.seen[-1]
    assert "DONE" in question.criteria and "'recap'" in question.instructions


def test_a_task_named_done_gets_another_done_label() -> None:
    catalog = TaskCatalog([Task(name="DONE", description="Mark a to-do as done."), Task(name="b", description="B.")])
    router, fixed = _router(catalog, {"DONE_": 0.9, "DONE": 0.1})
    decision = _route(router, ["first", "bye"], active="b")
    assert (decision.event, decision.task) == ("END", "b")
    assert list(fixed.seen[-1][1].criteria) == ["DONE", "b", "NONE", "DONE_"]


def test_a_label_that_was_not_asked_keeps_the_active_task(catalog) -> None:
    router, _ = _router(catalog, {"weather": 0.9, "recap": 0.1})
    decision = _route(router, ["Recap", "what's the weather"], active="recap")
    assert (decision.event, decision.task, decision.valid_format) == ("CONTINUE", "recap", False)
    assert "weather" in decision.fallback


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_huge_label_that_was_not_asked_is_kept_bounded(catalog, asynchronous) -> None:
    """A faulty server's 100,000-character label is untrusted output: the decision's fallback (kept whole in every
    checkpoint's decisions) quotes its head and tail only."""
    label = "w" * 100_000
    router, _ = _router(catalog, {label: 0.9, "recap": 0.1})
    decision = _route(router, ["Recap", "what's the weather"], active="recap", asynchronous=asynchronous)
    assert (decision.event, decision.task, decision.valid_format) == ("CONTINUE", "recap", False)
    assert "www" in decision.fallback and len(decision.fallback) < 1_000


def test_the_model_reads_the_last_window_messages_as_text(catalog) -> None:
    fixed = FixedDecisionModel(answer=lambda state, question: {"recap": 1.0}, seen=[])
    router = make_router("decision", decision_model=fixed, catalog=catalog, window=2)
    messages = [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        AIMessage("", tool_calls=[{"name": "search", "args": {}, "id": "call_1"}]),  # no text: left out
        ToolMessage("found", tool_call_id="call_1"),
        {"role": "user", "content": "three"},
    ]
    router.invoke({"messages": messages})
    assert [(m.type, m.content) for m in fixed.seen[-1][0]] == [("ai", "two"), ("human", "three")]


def test_a_router_as_a_decision_model_routes_as_the_decision_kind(catalog) -> None:
    from task_router.decision_models import TaskRouterDecisionModel
    from task_router.routers._embedding import EmbeddingRouter
    from tests.unit_tests.fakes import Words

    inner = TaskRouterDecisionModel(router=EmbeddingRouter(encoder=Words(), closing_phrases=()))
    router = make_router("decision", decision_model=inner, catalog=catalog)
    start = router.invoke({"messages": user_turns(["Summarise the meeting into decisions and action items"])})
    assert (start.event, start.task, start.model) == ("START", "recap", inner.model)
    assert math.isclose(sum(a.probability for a in start.alternatives), 1.0, abs_tol=1e-6)  # 3 tasks and NONE


def test_without_a_decision_model_the_error_names_the_fix(catalog) -> None:
    with pytest.raises(ValueError, match="decision_model="):
        make_router("decision", catalog=catalog)


# -- OpenAIClassifier over the loopback FaultServer (no internet, no API key) ------------------------------------


def _classifier(server: FaultServer):
    decisions = pytest.importorskip("langchain_openai.decisions")
    return decisions.OpenAIClassifier(model="fake-decisions", api_key="sk-test-key-0000", base_url=server.base_url)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_openai_classifier_routes_through_the_fault_servers_decisions_api(catalog, asynchronous) -> None:
    decide = keyword_decision({"recap": "recap", "email": "email"}, done_words=("thanks",))
    turns = [
        (["Recap my meeting please"], None),
        (["Recap my meeting please", "Now write the email"], "recap"),
        (["Recap my meeting please", "thanks, bye"], "recap"),
        (["Recap my meeting please", "how tall is Everest?"], "recap"),
    ]
    with FaultServer("ok", decide=decide) as server:
        router = make_router("decision", decision_model=_classifier(server), catalog=catalog)
        inputs = [{"messages": user_turns(texts), "active_task": active} for texts, active in turns]
        if asynchronous:  # one event loop: the classifier's async client lives on the loop it was first used on

            async def decide_all():
                return [await router.ainvoke(turn) for turn in inputs]

            start, switch, done, off = asyncio.run(decide_all())
        else:
            start, switch, done, off = [router.invoke(turn) for turn in inputs]
    assert (start.event, start.task, start.model) == ("START", "recap", "fake-decisions")
    assert math.isclose(start.confidence, 0.9)
    assert (switch.event, switch.task) == ("SWITCH", "email")
    assert (done.event, done.task) == ("END", "recap")
    assert (off.event, off.active_task_after) == ("NONE", "recap")
    request = server.requests[0]
    assert request["path"] == "/v1/decisions"
    question = request["body"]["questions"][0]
    assert question["type"] == "choice" and [c["value"] for c in question["choices"]] == [
        "recap",
        "email",
        "post",
        "NONE",
    ]


def test_openai_classifier_faults_raise_or_fall_back(catalog) -> None:
    with FaultServer("garbage") as server:
        router = make_router("decision", decision_model=_classifier(server), catalog=catalog)
        decision = _route(router, ["Recap", "hmm"], "recap")
    assert (decision.event, decision.valid_format) == ("CONTINUE", False)  # a choice not asked: keep the task
    with FaultServer("500") as server:
        classifier = _classifier(server).model_copy(update={"max_retries": 0})
        router = make_router("decision", decision_model=classifier, catalog=catalog)
        with pytest.raises(Exception, match="injected server error"):
            _route(router, ["Recap my meeting"])
