"""Off topic (NONE, the active task stays) and done (END) told apart by every router kind: the answer vocabulary
(a task, NONE, DONE), the prompts that explain it, and the alternatives a router weighed (fake models only)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from task_router import RouteDecision, Task, TaskCatalog, make_router
from task_router._prompting import load_prompt
from task_router.routers._answering import TOP_LOGPROBS, add_logprob_confidence, with_logprobs
from task_router.routers._base import Prediction, Router
from task_router.routers._compose import Abstain, CascadeRouter
from task_router.routers._embedding import EmbeddingRouter
from task_router.routers._fallbacks import KeepActiveRouter, make_reliable
from task_router.routers._parsing import parse_answer, resolve_choice
from task_router.routers._react import ReActRouter, Step
from task_router.routers._scoring import ScoringRouter
from tests.conftest import choice, scripted_model, user_turns
from tests.unit_tests.fakes import Scripted
from tests.unit_tests.routers.test_kinds import BagOfWords


def route(router: Any, catalog: TaskCatalog, text: str = "hi", active: str | None = None) -> RouteDecision:
    return router.invoke({"messages": user_turns([text]), "active_task": active, "catalog": catalog})


def outcome(decision: RouteDecision) -> tuple[str, str | None, str | None]:
    return decision.event, decision.task, decision.active_task_after


# -- the answer vocabulary -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ('{"task": "DONE", "closing": true}', (None, True)),
        ('{"task": "DONE"}', (None, True)),  # DONE is done whatever the flag says
        ('{"task": "done", "closing": false}', (None, True)),
        ('{"task": "NONE", "closing": false}', (None, False)),
        ('{"task": "NONE", "closing": true}', (None, True)),  # the older spelling of "done"
        ('{"task": "recap", "closing": true}', ("recap", True)),  # the older spelling too: the active task closing
        ('{"task": "NONE", "event": "END"}', (None, True)),
        ("DONE", (None, True)),
        ("Done.", (None, True)),
        ("Finished", (None, True)),
        ("NONE", (None, False)),
        ("Task: DONE", (None, True)),
        ("task = NONE, closing = yes", (None, True)),
        ("The user thanks and leaves.\nAnswer: DONE", (None, True)),
        ("Nothing fits, so the answer is NONE.", (None, False)),
        ("Not NONE: the user is leaving, so DONE.", (None, True)),  # the last label written counts
    ],
)
def test_answers_name_a_task_nothing_or_done(raw: str, parsed: tuple[str | None, bool], catalog) -> None:
    answer = parse_answer(raw, catalog)
    assert (answer.task, answer.closing) == parsed


def test_a_catalogue_task_named_like_a_word_of_the_vocabulary_wins() -> None:
    catalog = TaskCatalog([Task(name="done", description="List what is done."), Task(name="x", description="X.")])
    assert resolve_choice("done", catalog) == ("done", False)
    assert resolve_choice("DONE", catalog) == ("done", False)  # the catalogue's name, case aside
    assert resolve_choice("finished", catalog) == (None, True)


# -- the prompts explain both --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["zero-shot", "structured", "few-shot-cot", "react"])
def test_prompts_explain_off_topic_and_done(name: str) -> None:
    prompt = load_prompt(name)
    system = " ".join(prompt["system"].split())
    assert "answer DONE" in system and "answer NONE" in system
    assert "NONE does not close it" in system and "goes on with the active task" in system
    assert "NONE or DONE" in " ".join(prompt["repair"].split())


def test_few_shot_examples_show_a_digression_and_a_closing(catalog) -> None:
    text = make_router("few-shot-cot", model=scripted_model()).examples(catalog)
    blocks = text.split("\n---\n")
    digression = next(b for b in blocks if "capital of Peru" in b and "Active task: recap" in b)
    assert '"task": "NONE"' in digression and "recap stays active" in digression
    closing = next(b for b in blocks if "that's all I needed" in b)
    assert '"task": "DONE", "closing": true' in closing
    assert any("Active task: none" in b and '"task": "NONE"' in b for b in blocks)  # nothing fits, nothing active


def test_scoring_prompt_is_the_one_its_adapter_was_trained_on() -> None:
    # The scoring router says "done" with the active task + "Finished: yes" and NONE for nothing fits (which now
    # keeps an active task): its answers already tell them apart, so its prompt stays the qlora:builtin one.
    system = " ".join(load_prompt("scoring")["system"].split())
    assert system.endswith("answer NONE when no task fits.")


# -- every prompted kind -------------------------------------------------------------------------------------
def _reply(kind: str, answer: dict) -> str:
    import json

    text = json.dumps(answer)
    if kind == "few-shot-cot":
        return f"Reasoning: decided.\nAnswer: {text}"
    if kind == "react":
        return f"Thought: decided.\nAction: final_answer[{text}]"
    return text


KINDS = ["structured", "zero-shot", "few-shot-cot", "react"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("answer", "active", "expected"),
    [
        (choice("NONE"), "recap", ("NONE", None, "recap")),  # off topic: the task stays active
        (choice("DONE", True), "recap", ("END", "recap", None)),
        ({"task": "DONE"}, "recap", ("END", "recap", None)),
        (choice("NONE", True), "recap", ("END", "recap", None)),  # an older answer: still done
        (choice("recap", True), "recap", ("END", "recap", None)),
        (choice("recap"), "recap", ("CONTINUE", "recap", "recap")),
        (choice("NONE"), None, ("NONE", None, None)),
        (choice("DONE", True), None, ("NONE", None, None)),  # nothing to close
    ],
)
def test_prompted_kinds_tell_off_topic_and_done_apart(kind, answer, active, expected, catalog) -> None:
    router = make_router(kind, model=scripted_model(_reply(kind, answer)))
    decision = route(router, catalog, "what is the capital of Peru?", active)
    assert outcome(decision) == expected and decision.valid_format
    assert decision.digression is (expected[0] == "NONE" and active is not None)


class ToolCallingFake(GenericFakeChatModel):
    def bind_tools(self, tools: Any, **kwargs: Any) -> ToolCallingFake:
        return self


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (choice("NONE"), ("NONE", None, "email")),
        (choice("DONE", True), ("END", "email", None)),
        (choice("NONE", True), ("END", "email", None)),
        (choice("email", True), ("END", "email", None)),
    ],
)
def test_structured_tool_path_tells_them_apart(args, expected, catalog) -> None:
    model = ToolCallingFake(
        messages=iter([AIMessage("", tool_calls=[{"name": "RouteChoice", "args": args, "id": "1"}])])
    )
    router = make_router("structured", model=model)
    assert router.use_tools
    assert outcome(route(router, catalog, "hm", "email")) == expected


def test_structured_schema_offers_none_and_done(catalog) -> None:
    from task_router.routers._chat_model import choice_schema

    schema = choice_schema(catalog).model_json_schema()
    assert schema["properties"]["task"]["enum"] == [*catalog.names, "NONE", "DONE"]
    assert "stays active" in schema["properties"]["task"]["description"]


def test_react_looks_up_what_none_and_done_mean(catalog) -> None:
    router = ReActRouter(scripted_model(), catalog=catalog)
    assert "active task stays active" in router.observe(Step("task_details", "NONE"), catalog)
    assert "the user is done" in router.observe(Step("task_details", "DONE"), catalog)


# -- alternatives from log-probabilities ----------------------------------------------------------------------
def _logprob_reply(text_before: str, answer_tokens: list[tuple[str, float, list[tuple[str, float]]]]) -> AIMessage:
    content = [{"token": text_before, "logprob": 0.0, "top_logprobs": []}]
    for token, logprob, top in answer_tokens:
        alternatives = [{"token": t, "logprob": lp} for t, lp in top]
        content.append({"token": token, "logprob": logprob, "top_logprobs": alternatives})
    content.append({"token": '", "closing": false}', "logprob": 0.0, "top_logprobs": []})
    text = "".join(c["token"] for c in content)
    return AIMessage(text, response_metadata={"logprobs": {"content": content}})


def test_logprobs_rank_the_other_answers(catalog) -> None:
    top = [("NONE", -0.3), (" DONE", -9.0), ("DON", -2.0), ("re", -1.7), ("e", -3.0), ("book", -4.0)]
    reply = _logprob_reply('{"task": "', [("NONE", -0.3, top)])
    model = GenericFakeChatModel(messages=iter([reply]))
    decision = route(make_router("zero-shot", model=model), catalog, "the capital of Peru?", "recap")
    assert outcome(decision) == ("NONE", None, "recap")
    assert decision.confidence == pytest.approx(math.exp(-0.3))
    seen = [(a.event, a.task, round(a.probability, 3)) for a in decision.alternatives]
    # "re" starts recap only, "DON" DONE (END of the active task), "e" email; " DONE" (a space the reply's own
    # token has not) and "book" start no answer; the model's own token counts once.
    assert seen == [
        ("NONE", None, round(math.exp(-0.3), 3)),
        ("CONTINUE", "recap", round(math.exp(-1.7), 3)),
        ("END", "recap", round(math.exp(-2.0), 3)),
        ("SWITCH", "email", round(math.exp(-3.0), 3)),
    ]


def test_no_top_logprobs_no_alternatives(catalog) -> None:
    reply = _logprob_reply('{"task": "', [("email", -0.1, [])])
    prediction = add_logprob_confidence(Prediction("email", raw_output="x"), reply, catalog)
    assert prediction.confidence == pytest.approx(math.exp(-0.1)) and prediction.alternatives == ()
    repaired = Prediction("email", valid_format=False, fallback="repaired")
    assert add_logprob_confidence(repaired, reply, catalog) is repaired


def test_with_logprobs_asks_for_the_top_tokens_unless_set() -> None:
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model="m", api_key="sk-test", base_url="http://127.0.0.1:9/v1")
    assert with_logprobs(model).top_logprobs == TOP_LOGPROBS and with_logprobs(model).logprobs is True
    own = ChatOpenAI(model="m", api_key="sk-test", base_url="http://127.0.0.1:9/v1", top_logprobs=2)
    assert with_logprobs(own).top_logprobs == 2


# -- scoring ---------------------------------------------------------------------------------------------------
def _scoring(catalog: TaskCatalog, probs: list[float], closing: float) -> ScoringRouter:
    """A scoring router whose likelihoods are given (no model): labels are the catalogue's names, then NONE."""
    router = ScoringRouter.__new__(ScoringRouter)  # no model to load
    Router.__init__(router, catalog=catalog, model_label="given")
    labels = [*catalog.names, "NONE"]
    router.scores = lambda routing, config=None: {"labels": labels, "probs": probs, "closing": closing}
    return router


def test_scoring_none_with_a_task_active_is_off_topic_and_finished_is_done(catalog) -> None:
    off_topic = route(_scoring(catalog, [0.2, 0.1, 0.1, 0.6], closing=0.9), catalog, "capital of Peru?", "recap")
    assert outcome(off_topic) == ("NONE", None, "recap") and off_topic.digression
    assert [(a.event, a.task) for a in off_topic.alternatives] == [
        ("NONE", None),
        ("END", "recap"),
        ("SWITCH", "email"),
        ("SWITCH", "post"),
    ]
    assert [a.probability for a in off_topic.alternatives] == pytest.approx([0.6, 0.2, 0.1, 0.1])
    done = route(_scoring(catalog, [0.7, 0.1, 0.1, 0.1], closing=0.8), catalog, "thanks, bye", "recap")
    assert outcome(done) == ("END", "recap", None) and done.confidence == pytest.approx(0.56)
    assert (done.alternatives[0].event, done.alternatives[0].probability) == ("END", pytest.approx(0.7))
    nothing = route(_scoring(catalog, [0.2, 0.1, 0.1, 0.6], closing=0.0), catalog, "capital of Peru?")
    assert outcome(nothing) == ("NONE", None, None) and not nothing.digression


def test_scoring_alternatives_can_ask_between_close_tasks(catalog) -> None:
    router = _scoring(catalog, [0.1, 0.46, 0.41, 0.03], closing=0.0)
    router.clarify_margin = 0.1
    decision = route(router, catalog, "write something for the client")
    assert (decision.event, decision.task, decision.clarify) == ("START", "email", ["email", "post"])


# -- embedding -------------------------------------------------------------------------------------------------
@pytest.fixture
def embedding(catalog) -> EmbeddingRouter:
    return EmbeddingRouter(catalog=catalog, encoder=BagOfWords(), closing_phrases=["thanks, that is all, bye"])


@pytest.mark.parametrize(
    ("text", "active", "expected"),
    [
        ("thanks, bye", "recap", ("END", "recap", None)),  # done: END, never a NONE
        ("weather on mars", "recap", ("CONTINUE", "recap", "recap")),  # resembles nothing: like "7 pm for two"
        ("weather on mars", None, ("NONE", None, None)),
        ("recap the meeting notes", None, ("START", "recap", "recap")),
        ("now write a linkedin post", "recap", ("SWITCH", "post", "post")),
    ],
)
def test_embedding_rules_and_their_alternatives_agree(embedding, catalog, text, active, expected) -> None:
    decision = route(embedding, catalog, text, active)
    assert outcome(decision) == expected
    top = decision.alternatives[0]
    assert (top.event, top.task) == (decision.event, decision.task)
    assert sum(a.probability for a in decision.alternatives) == pytest.approx(1.0, abs=1e-6)
    assert len({(a.event, a.task) for a in decision.alternatives}) == len(decision.alternatives)


# -- compositions ----------------------------------------------------------------------------------------------
def says(task: str | None, confidence: float | None, closing: bool = False) -> Scripted:
    return Scripted(lambda routing: Prediction(task, closing, confidence=confidence), label="fake")


@pytest.mark.parametrize(
    ("task", "closing", "expected"),
    [(None, False, ("NONE", None, "post")), (None, True, ("END", "post", None))],
)
def test_cascade_and_abstain_pass_off_topic_and_done_through(catalog, task, closing, expected) -> None:
    cascade = CascadeRouter(says("email", 0.9), cheap=says(task, 0.8, closing), escalate=0.6, none=0.2)
    assert outcome(route(cascade, catalog, "x", "post")) == expected
    strong = CascadeRouter(says(task, 0.9, closing), cheap=says("email", 0.4), escalate=0.6, none=0.2)
    assert outcome(route(strong, catalog, "x", "post")) == expected
    assert outcome(route(Abstain(says(task, 0.1, closing), threshold=0.5), catalog, "x", "post")) == expected


def test_abstaining_with_a_task_active_continues_it(catalog) -> None:
    assert outcome(route(Abstain(says("email", 0.3), threshold=0.5), catalog, "x", "post")) == (
        "CONTINUE",
        "post",
        "post",
    )
    cascade = CascadeRouter(says("email", 0.9), cheap=says("email", 0.1), escalate=0.6, none=0.2)
    assert outcome(route(cascade, catalog, "x", "post")) == ("CONTINUE", "post", "post")


def test_keep_active_never_digresses_nor_closes(catalog) -> None:
    assert outcome(route(KeepActiveRouter(), catalog, "x", "post")) == ("CONTINUE", "post", "post")
    assert outcome(route(KeepActiveRouter(), catalog, "x")) == ("NONE", None, None)


def test_the_reliable_composition_keeps_the_clarify_margin(catalog) -> None:
    router = Scripted(lambda routing: Prediction("email", alternatives=(("email", False, 0.5), ("post", False, 0.45))))
    router.clarify_margin = 0.1
    reliable = make_reliable(router, fallback="keep-active")
    assert route(reliable, catalog, "write something").clarify == ["email", "post"]


@pytest.mark.parametrize(("active", "kept"), [("recap", ("CONTINUE", "recap")), (None, ("NONE", None))])
def test_a_proposal_not_taken_leads_no_question(catalog, active, kept) -> None:
    close = (("email", False, 0.3), ("post", False, 0.28), ("recap", False, 0.2))
    proposal = Scripted(lambda routing: Prediction("email", confidence=0.3, alternatives=close))
    router = Abstain(proposal, threshold=0.5)
    router.clarify_margin = 0.1
    decision = route(router, catalog, "something", active)
    assert (decision.event, decision.task) == kept and decision.clarify is None
    first = decision.alternatives[0]
    assert (first.event, first.task, first.probability) == (*kept, pytest.approx(0.7))
    cascade = CascadeRouter(says("post", 0.9), cheap=proposal, escalate=0.6, none=0.4)
    decision = route(cascade, catalog, "something", active)
    assert (decision.event, decision.task, decision.stage, decision.confidence) == (*kept, "cheap", pytest.approx(0.7))


class MadeUp(Router):
    """A router whose model names a task that is not in the catalogue, sure of it, and closing."""

    kind = "made-up"

    def predict(self, routing: Any, config: Any) -> Prediction:
        return Prediction("made_up", closing=True, confidence=0.9, alternatives=(("made_up", True, 0.9),))


@pytest.mark.parametrize(
    ("active", "expected"), [("recap", ("CONTINUE", "recap", "recap")), (None, ("NONE", None, None))]
)
def test_an_unknown_task_said_closing_keeps_the_active_task_instead_of_ending_it(catalog, active, expected) -> None:
    """The decision says it "kept the active task": it must not END it (only the user closes a task), nor carry the
    confidence the model had in its made-up answer."""
    decision = route(MadeUp(catalog=catalog), catalog, "bye", active)
    assert outcome(decision) == expected
    assert (decision.valid_format, decision.confidence) == (False, None)
    assert "made_up" in decision.fallback
