"""The shipped learned router as a LangChain decision model: it answers `Choice` questions with its calibrated
probabilities, and routes an agent's model calls through langchain's `ModelRouterMiddleware` (fake agent models)."""

from __future__ import annotations

import asyncio
import itertools
import math
import warnings

import pytest

pytest.importorskip("peft")
pytest.importorskip("sentence_transformers")

from langchain.agents import create_agent
from langchain.agents.middleware import ModelChoice, ModelRouterMiddleware
from langchain_core.decisions import Choice
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from task_router import make_router
from task_router.decision_models import TaskRouterDecisionModel

CRITERIA = {
    "coding": "Fix bugs in program code: debug errors and exceptions in Python scripts.",
    "translation": "Translate a text into another language.",
}
CODE = "My Python script raises a KeyError on line 12, can you fix it?"
TRANSLATE = "Translate 'good morning, how are you?' into Spanish"
OFF_TOPIC = "What's the weather in Paris tomorrow?"


@pytest.fixture(scope="module")
def classifier() -> TaskRouterDecisionModel:
    return TaskRouterDecisionModel(router=make_router("learned"))


def _answer(classifier, text, criteria=CRITERIA, *, asynchronous=False):
    request = {"state": text, "questions": {"q": Choice(instructions="Which task is it?", criteria=criteria)}}
    response = asyncio.run(classifier.ainvoke(request)) if asynchronous else classifier.invoke(request)
    assert response.model == "task-router:learned:builtin"
    return response.choices["q"]


def _model(reply: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.repeat(AIMessage(reply)))


def test_model_router_middleware_routes_each_request_to_its_model(classifier) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ModelRouterMiddleware is in beta
        router = ModelRouterMiddleware(
            choices={
                "coding": ModelChoice(model=_model("coder here"), criteria=CRITERIA["coding"]),
                "translation": ModelChoice(model=_model("translator here"), criteria=CRITERIA["translation"]),
            },
            instructions="Choose the model suited to the request.",
            classifier=classifier,
        )
    # The agent's own model has no answer: a call that is not routed fails the test.
    agent = create_agent(GenericFakeChatModel(messages=iter(())), middleware=[router])
    code = agent.invoke({"messages": [{"role": "user", "content": CODE}]})
    assert code["model_route"].choice == "coding" and code["messages"][-1].content == "coder here"
    translate = asyncio.run(agent.ainvoke({"messages": [{"role": "user", "content": TRANSLATE}]}))
    assert translate["model_route"].choice == "translation"
    assert translate["messages"][-1].content == "translator here"
    assert translate["model_route"].confidence > 0.5


@pytest.mark.parametrize("asynchronous", [False, True])
def test_answers_are_the_routers_probabilities(classifier, asynchronous) -> None:
    criteria = {**CRITERIA, "other": "Anything else."}
    for text, expected in [(CODE, "coding"), (TRANSLATE, "translation"), (OFF_TOPIC, "other")]:
        answer = _answer(classifier, text, criteria, asynchronous=asynchronous)
        assert answer.choice == expected, (text, answer)
        assert set(answer.probabilities) == set(criteria)
        assert math.isclose(sum(answer.probabilities.values()), 1.0, abs_tol=1e-6)
        assert math.isclose(answer.confidence, max(answer.probabilities.values()))


def test_without_a_none_label_an_off_topic_input_has_a_low_confidence(classifier) -> None:
    answer = _answer(classifier, OFF_TOPIC)
    assert math.isclose(sum(answer.probabilities.values()), 1.0, abs_tol=1e-6)
    assert answer.confidence < 0.2 < max(answer.probabilities.values())  # most of its mass said "nothing fits"
    on_topic = _answer(classifier, CODE)
    assert on_topic.choice == "coding" and on_topic.confidence > 0.5


def test_sync_and_async_answers_agree(classifier) -> None:
    sync, async_ = _answer(classifier, TRANSLATE), _answer(classifier, TRANSLATE, asynchronous=True)
    assert sync.choice == async_.choice == "translation"
    for label, p in sync.probabilities.items():
        assert math.isclose(p, async_.probabilities[label], abs_tol=1e-4)
