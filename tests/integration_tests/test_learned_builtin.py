"""The learned router shipped in the package: loads offline, and routes conversations over a catalogue it never saw
(tasks that appear in no training file, one of them added while the conversation runs)."""

from __future__ import annotations

import pytest

pytest.importorskip("peft")
pytest.importorskip("sentence_transformers")

from task_router import Task, TaskCatalog, make_router
from tests.conftest import FIXTURES

HOUSEHOLD = [
    Task(name="vet_appointment", description="Book an appointment for a pet at the veterinarian."),
    Task(name="plant_care", description="Give watering and care advice for house plants."),
    Task(name="translate_text", description="Translate a text into another language."),
    Task(name="grocery_list", description="Build or update a grocery shopping list."),
]


@pytest.fixture(scope="module")
def router():
    return make_router("learned")


def _turn(router, catalog, messages, active=None):
    return router.invoke({"messages": messages, "active_task": active, "catalog": catalog})


def test_builtin_model_loads_offline(router) -> None:
    import os
    import subprocess
    import sys

    assert router.kind == "learned" and router.model_label == "learned:builtin"
    assert router.model.cross_encoder is None  # the shipped model decides with its bi-encoder
    assert router.model.config.lora_scale == 0.7
    code = (
        "from task_router import TaskCatalog, make_router; "
        "print(make_router('learned', catalog=TaskCatalog.demo()).invoke({'messages': ['recap my call']}).task)"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HTTPS_PROXY": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "meeting_recap"


VET_THEN_TRANSLATION = [
    # (the assistant's reply before the user's turn, the user's turn, the decision expected: (event, task))
    (None, "My cat needs a check-up, can you book her in at the vet?", ("START", "vet_appointment")),
    ("Sure. Which day suits you?", "Next Tuesday morning, around 10.", ("CONTINUE", "vet_appointment")),
    (
        "Booked for Tuesday at 10 am.",
        "Great. Also, how do I translate 'see you soon' into Spanish?",
        ("SWITCH", "translate_text"),
    ),
    ("'Hasta pronto.' Anything else?", "No, that's all, thank you!", ("END", "translate_text")),
]


def test_routes_a_conversation_over_a_catalogue_it_never_saw(router) -> None:
    catalog = TaskCatalog(HOUSEHOLD)
    messages: list[dict[str, str]] = []
    active, decisions = None, []
    for reply, text, (event, task) in VET_THEN_TRANSLATION:
        if reply is not None:
            messages.append({"role": "assistant", "content": reply})
        messages.append({"role": "user", "content": text})
        decision = _turn(router, catalog, messages, active)
        assert (decision.event, decision.task) == (event, task), text
        decisions.append(decision)
        active = decision.active_task_after  # what the graph carries (none after an END)
    assert all(d.valid_format for d in decisions)


def test_a_task_added_at_run_time_is_routed_like_the_others(router) -> None:
    catalog = TaskCatalog(HOUSEHOLD)
    messages = [
        {"role": "user", "content": "Add milk and eggs to my grocery list."},
        {"role": "assistant", "content": "Added milk and eggs."},
        {"role": "user", "content": "Now remind ACME politely that invoice 42 is still unpaid."},
    ]
    before = _turn(router, catalog, messages, "grocery_list")
    assert before.task in (*catalog.names, None)
    catalog.add(Task(name="invoice_reminder", description="Write a polite reminder for an unpaid invoice."))
    after = _turn(router, catalog, messages, "grocery_list")
    assert (after.event, after.task) == ("SWITCH", "invoice_reminder")


def test_cli_fits_evaluates_and_routes_with_the_learned_router(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from task_router._thresholds import load_thresholds
    from task_router.cli import app

    fixture = FIXTURES / "eval_small.jsonl"
    runner = CliRunner()
    fitted = runner.invoke(app, ["fit", "-d", str(fixture), "--router", "learned", "--out", str(tmp_path / "t.json")])
    assert fitted.exit_code == 0, fitted.output
    thresholds = load_thresholds(tmp_path / "t.json")
    assert thresholds.router == "learned" and thresholds.none_bias is not None  # its own NONE scores, refitted
    abstaining = make_router("learned", thresholds=str(tmp_path / "t.json"), none_threshold=0.99)
    far = abstaining.invoke({"messages": ["what is the capital of Peru?"], "catalog": TaskCatalog(HOUSEHOLD)})
    assert (far.event, far.task) == ("NONE", None)  # below the threshold: nothing starts
    evaluated = runner.invoke(app, ["eval", "-d", str(fixture), "--router", "learned", "--out", str(tmp_path / "e")])
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["router"] == "learned" and metrics["invalid_format"] == 0
    conversation = tmp_path / "c.json"
    conversation.write_text(json.dumps([{"role": "user", "content": "Recap this morning's meeting"}]))
    routed = runner.invoke(app, ["route", "--conversation", str(conversation)])  # the default router for embedded
    assert routed.exit_code == 0, routed.output
    decision = json.loads(routed.output[routed.output.index("{") :])
    assert decision["router"] == "learned" and (decision["event"], decision["task"]) == ("START", "meeting_recap")


# A regression of the model that says NONE (2026-12-04), fixed by reading the request alone too: with its pasted notes
# the message ranked prospect_answer above meeting_recap and said NONE (p 0.54).
def test_a_recap_request_with_its_notes_starts_the_recap(router) -> None:
    """A request that carries its content ("we decided...") is still a recap request (the embedding router
    started `prospect_answer` on it)."""
    text = "Recap this morning meeting: we decided to ship v2 Friday, Bob owns QA."
    decision = _turn(router, TaskCatalog.demo(), [{"role": "user", "content": text}])
    assert (decision.event, decision.task) == ("START", "meeting_recap")


def test_the_recap_request_through_the_default_router_of_the_graph_and_the_cli(tmp_path) -> None:
    """The same request through what a user runs: `create_router_graph` and `task-router route` with no router
    given (the default for the embedded model), not a router built by the test."""
    import json

    from langgraph.checkpoint.memory import InMemorySaver
    from typer.testing import CliRunner

    from task_router import create_router_graph
    from task_router.cli import app

    text = "Recap this morning meeting: we decided to ship v2 Friday, Bob owns QA."
    graph = create_router_graph(TaskCatalog.demo(), model="embedded").compile(
        checkpointer=InMemorySaver(),
        interrupt_before=["task"],  # the decision only, not the deliverable
    )
    state = graph.invoke({"messages": [("user", text)]}, {"configurable": {"thread_id": "recap"}})
    decision = state["decisions"][-1]
    assert decision["router"] == "learned" and (decision["event"], decision["task"]) == ("START", "meeting_recap")
    conversation = tmp_path / "c.json"
    conversation.write_text(json.dumps([{"role": "user", "content": text}]))
    routed = CliRunner().invoke(app, ["route", "--conversation", str(conversation)])
    assert routed.exit_code == 0, routed.output
    decision = json.loads(routed.output[routed.output.index("{") :])
    assert decision["router"] == "learned" and (decision["event"], decision["task"]) == ("START", "meeting_recap")


def test_concurrent_async_decisions_share_forwards_and_decide_as_sync(router) -> None:
    """Issue 25, item 4: decisions awaited together on one event loop share micro-batched encoder forwards (no
    thread held per waiting decision) and decide exactly as one sync decision at a time."""
    import asyncio

    catalog = TaskCatalog.demo()
    texts = [f"{request} (case {i})" for i, request in enumerate(["Recap my meeting", "Write a linkedin post"] * 8)]
    turns = [{"messages": [("user", text)], "catalog": catalog} for text in texts]
    alone = [router.invoke(turn) for turn in turns]
    batcher = router.model._embed
    encode, forwards = batcher.encode, []

    def counted(batch: list[str]):
        forwards.append(len(batch))
        return encode(batch)

    batcher.encode = counted
    try:

        async def together():
            return await asyncio.gather(*(router.ainvoke(turn) for turn in turns))

        awaited = asyncio.run(together())
    finally:
        batcher.encode = encode
    assert [(d.event, d.task) for d in awaited] == [(d.event, d.task) for d in alone]
    # a batched forward pads the shorter turns: the same up to bf16 rounding
    assert all(abs(a.confidence - b.confidence) < 0.02 for a, b in zip(awaited, alone, strict=True))
    assert sum(forwards) == len(turns) and len(forwards) < len(turns)  # turns shared forwards


def test_a_request_after_a_colon_is_still_read_whole(router) -> None:
    """Reading the request before a colon alone must not lose a request that comes after it: each task keeps its
    better match of the two readings."""
    text = "Quick question: can you write a LinkedIn post about our product launch?"
    decision = _turn(router, TaskCatalog.demo(), [{"role": "user", "content": text}])
    assert (decision.event, decision.task) == ("START", "linkedin_post")


def test_confidence_is_a_softmax_over_the_models_best_answers(router) -> None:
    top_k = router.calibration.top_k
    assert top_k is not None  # chosen at calibration (learned.json)
    many = TaskCatalog.demo()
    for i in range(40):
        many.add(Task(name=f"chore_{i}", description=f"Help with household chore number {i}."))
    decision = _turn(router, many, ["Recap this morning's meeting, please"])
    probabilities = [alternative.probability for alternative in decision.alternatives]
    assert decision.task == "meeting_recap" and decision.confidence == probabilities[0]
    assert sum(probabilities[:top_k]) == pytest.approx(1.0)
    assert all(p == 0.0 for p in probabilities[top_k:]) and len(probabilities) > top_k
    assert probabilities == sorted(probabilities, reverse=True)
