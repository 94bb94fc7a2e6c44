"""Cascade router: cheap stage first, strong stage below the escalation threshold; Abstain; thresholds files."""

from __future__ import annotations

import pytest

from task_router._thresholds import Thresholds, save_thresholds
from task_router.routers import make_router
from task_router.routers._base import Prediction
from task_router.routers._compose import Abstain, CascadeRouter
from task_router.routers._embedding import EmbeddingRouter
from task_router.routers._shortlist import Shortlist
from tests.unit_tests.fakes import Scripted, Words


def turn(text: str, catalog, active: str | None = None) -> dict:
    return {"messages": [{"role": "user", "content": text}], "active_task": active, "catalog": catalog}


def cheap_says(task: str | None, confidence: float | None) -> Scripted:
    return Scripted(lambda r: Prediction(task, confidence=confidence, rationale="cheap"), label="cheap-model")


def strong_says(task: str | None) -> Scripted:
    return Scripted(lambda r: Prediction(task, confidence=0.9, rationale="strong"), label="strong-model")


def test_confident_cheap_answer_stands(catalog):
    strong = strong_says("email")
    router = CascadeRouter(strong, cheap=cheap_says("recap", 0.8), escalate=0.6, none=0.2)
    decision = router.invoke(turn("recap it", catalog))
    assert (decision.task, decision.stage, decision.router, decision.confidence) == ("recap", "cheap", "cascade", 0.8)
    assert strong.seen == [] and decision.model == "cheap-model->strong-model"


def test_unsure_cheap_answer_escalates(catalog):
    router = CascadeRouter(strong_says("email"), cheap=cheap_says("recap", 0.4), escalate=0.6, none=0.2)
    decision = router.invoke(turn("hm", catalog))
    assert (decision.event, decision.task, decision.stage) == ("START", "email", "strong")
    assert decision.rationale.startswith("escalated: cheap recap 0.400 < 0.600")


def test_very_unsure_cheap_answer_abstains_without_asking(catalog):
    strong = strong_says("email")
    router = CascadeRouter(strong, cheap=cheap_says("recap", 0.1), escalate=0.6, none=0.2)
    assert router.invoke(turn("weather on mars", catalog)).event == "NONE"
    switch = router.invoke(turn("weather on mars", catalog, active="post"))
    assert (switch.event, switch.task, switch.stage) == ("CONTINUE", "post", "cheap")
    assert strong.seen == []


def test_no_confidence_escalates(catalog):
    decision = CascadeRouter(strong_says(None), cheap=cheap_says("recap", None)).invoke(turn("x", catalog))
    assert (decision.event, decision.stage) == ("NONE", "strong")


def test_thresholds_from_a_fitted_file_and_bad_values(tmp_path, catalog):
    path = save_thresholds(tmp_path / "t.json", Thresholds(router="cascade", none=0.1, escalate=0.7))
    router = CascadeRouter(strong_says("email"), cheap=cheap_says("recap", 0.65), thresholds=path)
    assert (router.none, router.escalate) == (0.1, 0.7)
    assert router.invoke(turn("x", catalog)).stage == "strong"
    with pytest.raises(ValueError, match="none <= escalate"):
        CascadeRouter(strong_says("email"), cheap=cheap_says("recap", 0.5), escalate=0.2, none=0.5)
    with pytest.raises(ValueError, match="not cheap"):
        CascadeRouter(strong_says("email"), cheap="react")


def test_make_router_cascade_with_embedding_cheap_stage_and_shortlist(catalog):
    strong = strong_says("post")
    router = make_router(
        "cascade", model=strong, cheap_options={"encoder": Words(), "closing_phrases": ()}, escalate=0.99, shortlist=2
    )
    assert isinstance(router, Shortlist) and router.kind == "cascade"
    cascade = router.router
    assert (
        isinstance(cascade.cheap, EmbeddingRouter) and cascade.cheap.threshold is None
    )  # no threshold of its own: the cascade abstains
    assert router.retriever.embedder is cascade.cheap  # the shortlist shares the cheap stage's vectors
    decision = router.invoke(turn("draft a linkedin post", catalog))
    assert (decision.task, decision.stage) == ("post", "strong") and len(strong.seen[-1]) == 2


def test_abstain_wrapper_and_make_router_none_threshold(catalog, tmp_path):
    low = Abstain(cheap_says("recap", 0.3), threshold=0.5)
    assert low.invoke(turn("x", catalog)).event == "NONE"
    assert low.invoke(turn("x", catalog, active="email")).event == "CONTINUE"
    assert Abstain(cheap_says("recap", 0.7), threshold=0.5).invoke(turn("x", catalog)).task == "recap"
    with pytest.raises(ValueError, match=r"0\.\.1"):
        Abstain(cheap_says("recap", 0.7), threshold=1.5)
    router = make_router("embedding", model=None, encoder=Words(), none_threshold=0.99)
    assert isinstance(router, Abstain) and router.router.threshold is None
    assert router.invoke(turn("recap the meeting", catalog)).event == "NONE"
    path = save_thresholds(tmp_path / "t.yaml", Thresholds(router="embedding", none=0.05, shortlist=2))
    fitted = make_router("embedding", model=None, encoder=Words(), thresholds=path)
    assert isinstance(fitted, Shortlist) and fitted.router.threshold == 0.05
    assert fitted.invoke(turn("recap the meeting", catalog)).task == "recap"
