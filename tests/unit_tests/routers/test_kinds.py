"""zero-shot, few-shot-cot, react and embedding routers on fake models: pure logic, no real model."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import Field

from task_router import RouteDecision, Task, TaskCatalog, make_router
from task_router.routers._embedding import EmbeddingRouter
from task_router.routers._react import parse_step
from tests.conftest import choice, scripted_model, user_turns


class RecordingFake(GenericFakeChatModel):
    """Scripted replies; remembers the messages of every call."""

    calls: list[list[BaseMessage]] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.calls.append(list(messages))
        return super()._generate(messages, *args, **kwargs)


def recording(*replies: str) -> RecordingFake:
    return RecordingFake(messages=iter(AIMessage(r) for r in replies))


def route(router, catalog, text="hi", active=None) -> RouteDecision:
    return router.invoke({"messages": user_turns([text]), "active_task": active, "catalog": catalog})


def assert_invariant(decision: RouteDecision, catalog: TaskCatalog) -> None:
    assert decision.task is None or decision.task in catalog
    assert (decision.task is None) == (decision.event == "NONE")


# -- zero-shot / few-shot-cot ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["zero-shot", "few-shot-cot"])
def test_prompted_kinds_start_continue_end(kind, catalog):
    model = scripted_model("Answer: " + '{"task": "recap", "closing": false}', "Answer: recap", choice("recap", True))
    router = make_router(kind, model=model)
    assert (route(router, catalog, "recap my meeting").event, router.kind) == ("START", kind)
    assert route(router, catalog, "here are the notes", "recap").event == "CONTINUE"
    end = route(router, catalog, "thanks, bye", "recap")
    assert (end.event, end.task, end.valid_format, end.router) == ("END", "recap", True, kind)


@pytest.mark.parametrize("kind", ["zero-shot", "few-shot-cot"])
def test_prompted_repair_quotes_the_error_and_counts(kind, catalog):
    model = recording("Sure! I would love to help you with that.", '{"task": "LinkedIn post"}')
    decision = route(make_router(kind, model=model), catalog, "post about my promotion")
    assert (decision.event, decision.task, decision.valid_format, decision.fallback) == (
        "START",
        "post",
        False,
        "repaired",
    )
    assert len(model.calls) == 2
    repair = model.calls[1][-1].content
    assert "could not be used" in repair and "no task name found" in repair


@pytest.mark.parametrize("kind", ["zero-shot", "few-shot-cot"])
@pytest.mark.parametrize(("active", "event"), [(None, "NONE"), ("email", "CONTINUE")])
def test_prompted_garbage_twice_is_a_safe_fallback(kind, active, event, catalog):
    model = scripted_model('{"task": "book_flight"}', "I don't know")
    decision = route(make_router(kind, model=model), catalog, "book me a flight", active)
    assert (decision.event, decision.valid_format) == (event, False)
    assert "book_flight" in decision.raw_output and "I don't know" in decision.raw_output
    assert_invariant(decision, catalog)


def test_zero_shot_without_repair_makes_one_call(catalog):
    model = recording("gibberish")
    decision = route(make_router("zero-shot", model=model, repair=False), catalog, active="recap")
    assert (decision.event, decision.valid_format, len(model.calls)) == ("CONTINUE", False, 1)


def test_few_shot_cot_rationale_and_catalogue_examples(catalog):
    catalog.update("email", examples=["Write a thank-you email to Ana"])
    model = recording('The user wants an email about the meeting.\nAnswer: {"task": "email", "closing": false}')
    decision = route(make_router("few-shot-cot", model=model), catalog, "send a note to Bob")
    assert (decision.event, decision.task, decision.valid_format) == ("START", "email", True)
    assert decision.rationale == "The user wants an email about the meeting."
    system = model.calls[0][0].content
    assert "Write a thank-you email to Ana" in system  # the catalogue's own example
    assert "make it a bit shorter" in system and '"closing": true' in system  # generic examples from the file
    assert "{task" not in system and "{request" not in system  # every placeholder filled


def test_few_shot_examples_follow_catalogue_edits(catalog):
    router = make_router("few-shot-cot", model=scripted_model())
    before = router.examples(catalog)
    catalog.add(Task(name="pitch", description="Prepare a pitch.", examples=["Help me pitch my startup"]))
    routing_examples = router.messages(_routing(catalog))[0].content
    assert "Help me pitch my startup" in routing_examples and "Help me pitch my startup" not in before


def test_few_shot_one_task_catalogue_has_no_switch_example():
    catalog = TaskCatalog([Task(name="recap", description="Recap a meeting.")])
    text = make_router("few-shot-cot", model=scripted_model()).examples(catalog)
    assert "now asks for something else" not in text and "Can you help me with recap?" not in text
    assert '"task": "DONE", "closing": true' in text and "recap stays active" in text


def _routing(catalog):
    from task_router._router_input import coerce_input

    return coerce_input({"messages": ["hi"], "catalog": catalog})


# -- react ----------------------------------------------------------------------------------------------------
def test_react_looks_up_then_answers(catalog):
    model = recording(
        "Thought: which task writes posts?\nAction: task_details[LinkedIn post]\nObservation: I made this up",
        'Thought: it is the post task.\nAction: final_answer[{"task": "post", "closing": false}]',
    )
    decision = route(make_router("react", model=model), catalog, "share my promotion on LinkedIn")
    assert (decision.event, decision.task, decision.valid_format, decision.router) == ("START", "post", True, "react")
    observation = model.calls[1][-1].content
    assert observation.startswith("Observation: post (LinkedIn post): Draft a LinkedIn post.")
    assert "I made this up" not in observation and "I made this up" not in model.calls[1][-2].content
    assert "Action: task_details[LinkedIn post]" in decision.rationale and "Observation: post" in decision.rationale


def test_react_list_tasks_and_unknown_details(catalog):
    model = recording(
        "Thought: list.\nAction: list_tasks[]",
        "Thought: check.\nAction: task_details[flights]",
        "Thought: nothing fits.\nAction: final_answer[NONE]",
    )
    decision = route(make_router("react", model=model, max_steps=3), catalog, "book a flight")
    assert (decision.event, decision.valid_format) == ("NONE", True)
    assert "- email: Write a follow-up email" in model.calls[1][-1].content
    assert "there is no task 'flights'" in model.calls[2][-1].content
    assert "last step" in model.calls[2][-1].content and "last step" not in model.calls[1][-1].content


def test_react_one_repair_then_fallback(catalog):
    repaired = route(
        make_router("react", model=scripted_model("I think recap.", "Action: final_answer[recap]")), catalog
    )
    assert (repaired.event, repaired.task, repaired.valid_format, repaired.fallback) == (
        "START",
        "recap",
        False,
        "repaired",
    )
    failed = route(make_router("react", model=scripted_model("hmm", "Action: fly[now]")), catalog, active="email")
    assert (failed.event, failed.task, failed.valid_format) == ("CONTINUE", "email", False)
    assert "after one repair" in failed.fallback


def test_react_step_budget_ends_in_a_fallback(catalog):
    model = recording(*["Thought: more.\nAction: list_tasks[]"] * 2)
    decision = route(make_router("react", model=model, max_steps=2), catalog, active="recap")
    assert (decision.event, decision.task, decision.valid_format, len(model.calls)) == ("CONTINUE", "recap", False, 2)
    assert "no final_answer within 2 steps" in decision.fallback
    assert decision.rationale.count("Action: list_tasks[]") == 2  # the trace survives the fallback


def test_react_made_up_final_task_is_repaired(catalog):
    model = scripted_model("Action: final_answer[book_flight]", 'Action: final_answer[{"task": "NONE"}]')
    decision = route(make_router("react", model=model), catalog)
    assert (decision.event, decision.valid_format) == ("NONE", False)


@pytest.mark.parametrize(
    ("text", "action", "task"),
    [
        ("Thought: x\nAction: list_tasks[]", "list_tasks", None),
        ("Action: task_details(recap)", "task_details", None),
        ("Action: Task Details: recap", "task_details", None),
        ("Action: final_answer\nAction Input: recap", "final_answer", "recap"),
        ("Thought: done\nFinal Answer: email", "final_answer", "email"),
        ('Action: `final_answer`[{"task": "post", "closing": false}]', "final_answer", "post"),
    ],
)
def test_parse_step_is_lenient(text, action, task, catalog):
    step = parse_step(text, catalog)
    assert step.action == action
    assert (step.answer.task if step.answer else None) == task


def test_react_rejects_zero_steps():
    with pytest.raises(ValueError, match="max_steps"):
        make_router("react", model=scripted_model(), max_steps=0)


# -- embedding ------------------------------------------------------------------------------------------------
class BagOfWords:
    """A deterministic stand-in for sentence-transformers: normalized word counts over a fixed vocabulary."""

    vocabulary: ClassVar[tuple[str, ...]] = (
        *("meeting", "recap", "notes", "email", "follow", "write", "post"),
        *("linkedin", "thanks", "all", "bye", "weather", "mars"),
    )

    def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        rows = np.zeros((len(texts), len(self.vocabulary) + 1), dtype=np.float32)
        for i, text in enumerate(texts):
            words = re.findall(r"[a-z]+", text.lower())
            for word in words:
                if word in self.vocabulary:
                    rows[i, self.vocabulary.index(word)] += 1
            rows[i, -1] = 0.05  # never a zero vector
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture
def embedding_router(catalog) -> EmbeddingRouter:
    return EmbeddingRouter(catalog=catalog, encoder=BagOfWords(), closing_phrases=["thanks, that is all, bye"])


def test_embedding_start_none_switch_continue_end(embedding_router, catalog):
    start = route(embedding_router, catalog, "recap the meeting notes")
    assert (start.event, start.task, start.router, start.valid_format) == ("START", "recap", "embedding", True)
    assert 0.0 <= start.confidence <= 1.0 and "best recap" in start.rationale
    assert route(embedding_router, catalog, "weather on mars").event == "NONE"
    assert route(embedding_router, catalog, "now write a linkedin post", "recap").task == "post"
    assert route(embedding_router, catalog, "at 7 pm for two people", "recap").event == "CONTINUE"
    end = route(embedding_router, catalog, "thanks, bye", "recap")
    assert (end.event, end.task) == ("END", "recap")


def test_embedding_margin_keeps_the_active_task(catalog):
    router = EmbeddingRouter(catalog=catalog, encoder=BagOfWords(), closing_phrases=[], margin=0.9)
    assert route(router, catalog, "write a follow up email", "recap").event == "CONTINUE"
    assert route(router, catalog, "write a follow up email").task == "email"


def test_embedding_vectors_are_cached_and_incremental(catalog):
    encoder = BagOfWords()
    texts_seen: list[str] = []
    original = encoder.encode
    encoder.encode = lambda texts, **kw: (texts_seen.extend(texts), original(texts, **kw))[1]  # type: ignore[method-assign]
    router = EmbeddingRouter(catalog=catalog, encoder=encoder, closing_phrases=[])
    route(router, catalog, "recap")
    route(router, catalog, "recap again")
    task_texts = [t for t in texts_seen if ":" in t]
    assert len(task_texts) == 3  # one text per task, embedded once for two turns
    catalog.add(Task(name="pitch", description="Prepare a one-minute pitch."))
    texts_seen.clear()
    decision = route(router, catalog, "pitch")
    assert [t for t in texts_seen if ":" in t] == ["pitch: Prepare a one-minute pitch."]
    assert decision.task in catalog or decision.task is None


def test_embedding_rejects_bad_thresholds(catalog):
    with pytest.raises(ValueError, match="cosine"):
        EmbeddingRouter(encoder=BagOfWords(), threshold=2.0)
    with pytest.raises(ValueError, match=">= 0"):
        EmbeddingRouter(encoder=BagOfWords(), margin=-0.1)


def test_make_router_builds_every_kind_of_this_module(catalog):
    for kind in ("zero-shot", "few-shot-cot", "react"):
        router = make_router(kind, model=scripted_model(choice("recap")), catalog=catalog)
        assert router.kind == kind and router.name == f"TaskRouter[{kind}]"
    assert isinstance(make_router("embedding", model=None, encoder=BagOfWords()), EmbeddingRouter)


class RaisingStructuredFake(GenericFakeChatModel):
    """Like ChatOpenAI's json_schema mode against a server that ignores response_format: it raises on free text."""

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Any:
        from langchain_core.runnables import RunnableLambda

        def fail(_: Any) -> Any:
            raise ValueError("1 validation error for RouteChoice: Invalid JSON")

        return RunnableLambda(fail)


def test_structured_reads_a_text_answer_when_structured_output_raises(catalog):
    model = RaisingStructuredFake(messages=iter([AIMessage('{"task": "recap", "closing": false}')]))
    router = make_router("structured", model=model)
    assert router.use_tools
    decision = route(router, catalog, "recap my meeting")
    assert (decision.event, decision.task, decision.valid_format) == ("START", "recap", True)
    assert router.use_tools  # for this decision only: one failure does not downgrade the shared router
