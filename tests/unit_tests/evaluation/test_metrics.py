"""Every metric of metrics.json against values computed by hand on tests/fixtures/eval_small.jsonl.

Own-state replay of the scripted router (gold -> predicted):
  1 START recap -> START recap      2 CONTINUE recap -> CONTINUE recap   3 SWITCH email -> CONTINUE recap
  4 END email -> END recap          5 NONE NONE -> NONE NONE (invalid)   6 START flight -> NONE NONE
  7 CONTINUE flight -> START flight
"""

from __future__ import annotations

import dataclasses

import pytest
from langchain_core.runnables import RunnableConfig

from task_router import TaskCatalog
from task_router._router_input import RoutingInput
from task_router.evaluation import TurnResult, compute_metrics, load_dataset, replay
from task_router.evaluation._metrics import latency, prf, task_labels
from task_router.routers._base import Prediction, Router
from tests.unit_tests.evaluation.scripted import FIXTURE, ScriptedRouter

SCRIPTED_MS = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 100.0]  # the scripted router's latencies, turn by turn


@pytest.fixture(scope="module")
def own_results() -> list[TurnResult]:
    return [p.result for p in replay(load_dataset(FIXTURE), ScriptedRouter(), progress=False)]


@pytest.fixture(scope="module")
def own(own_results: list[TurnResult]) -> dict:
    return compute_metrics(own_results)


@pytest.fixture(scope="module")
def gold() -> dict:
    predictions = replay(load_dataset(FIXTURE), ScriptedRouter(), state="gold", progress=False)
    return compute_metrics([p.result for p in predictions])


def test_accuracies(own: dict) -> None:
    assert own["task_accuracy"] == pytest.approx(4 / 7)  # turns 1, 2, 5, 7
    assert own["event_accuracy"] == pytest.approx(4 / 7)  # turns 1, 2, 4, 5
    assert own["task_selection_accuracy"] == pytest.approx(1 / 3)  # gold START/SWITCH: 1 right, 3 and 6 wrong


def test_per_event_precision_recall_f1(own: dict) -> None:
    events = own["events"]
    assert events["START"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert events["CONTINUE"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert events["SWITCH"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}  # never predicted
    assert events["END"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert events["NONE"]["precision"] == 0.5
    assert events["NONE"]["recall"] == 1.0
    assert events["NONE"]["f1"] == pytest.approx(2 / 3)
    assert events["NONE"]["support"] == 1


def test_none_detection_and_invalid_format(own: dict) -> None:
    assert own["none_detection"]["precision"] == 0.5  # turns 5 (right) and 6 (false alarm) predicted NONE
    assert own["none_detection"]["recall"] == 1.0
    assert own["none_detection"]["f1"] == pytest.approx(2 / 3)
    assert own["none_detection"]["support"] == 1
    assert own["invalid_format"] == 1


def test_latency(own: dict, own_results: list[TurnResult]) -> None:
    # 10 20 30 40 50 60 100: p95 at rank 0.95 * 6 = 5.7 -> 60 + 0.7 * 40
    scripted = [dataclasses.replace(result, latency_ms=ms) for result, ms in zip(own_results, SCRIPTED_MS, strict=True)]
    assert latency(scripted) == {"p50": 40.0, "p95": pytest.approx(88.0), "mean": pytest.approx(310 / 7)}
    # A decision's latency is its wall time when that is longer than the script's (a busy machine): metrics.json
    # gives the figures of the latencies measured, each at least the scripted one.
    assert own["latency_ms"] == latency(own_results)
    assert own["latency_ms"]["p50"] >= 40.0 and own["latency_ms"]["mean"] >= 310 / 7


def test_confusion_matrices(own: dict) -> None:
    assert own["confusion"]["events"] == {
        "labels": ["START", "CONTINUE", "SWITCH", "END", "NONE"],
        "matrix": [[1, 0, 0, 0, 1], [1, 1, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1]],
    }
    assert own["confusion"]["tasks"] == {
        "labels": ["email", "flight", "recap", "NONE"],
        "matrix": [[0, 0, 2, 0], [0, 1, 0, 1], [0, 0, 2, 0], [0, 0, 0, 1]],
    }


def test_gold_state_measures_each_turn_alone(gold: dict) -> None:
    # With the gold active task, turn 4 closes "email" (right) and turn 7 continues "flight" (right).
    assert gold["task_accuracy"] == pytest.approx(5 / 7)
    assert gold["event_accuracy"] == pytest.approx(5 / 7)
    assert gold["events"]["END"]["f1"] == 1.0
    assert gold["events"]["CONTINUE"] == {"precision": 2 / 3, "recall": 1.0, "f1": pytest.approx(0.8), "support": 2}


def test_prf_zero_division_is_zero() -> None:
    assert prf([False, False], [False, False]) == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_empty_latency_and_none_task_label() -> None:
    assert latency([]) == {"p50": 0.0, "p95": 0.0, "mean": 0.0}
    turn = TurnResult.from_outputs({"event": "END", "task": None}, {"event": "END", "task": "NONE"})
    assert turn.task == "NONE"
    assert task_labels([turn]) == ["NONE"]


def test_replay_prefills_each_reply_before_the_next_turn_like_the_graph() -> None:
    class Prefilling(ScriptedRouter):
        def __init__(self) -> None:
            super().__init__()
            self.prefilled: list[tuple[str, str, str]] = []

        def prefill(self, value, config) -> int:
            last = value["messages"][-1]
            self.prefilled.append((config["configurable"]["thread_id"], last["role"], last["content"]))
            return 0

    records = load_dataset(FIXTURE)
    router = Prefilling()
    with_prefill = replay(records, router, progress=False)
    later_turns = [(r, label) for r in records for label in r.labels if label.turn_index > 0]
    assert len(router.prefilled) == len(later_turns)
    for (_, role, content), (record, label) in zip(router.prefilled, later_turns, strict=True):
        assert (role, content) == (record.turns[label.turn_index - 1].role, record.turns[label.turn_index - 1].text)
    plain = replay(records, ScriptedRouter(), progress=False)
    assert [(p.event, p.task) for p in with_prefill] == [(p.event, p.task) for p in plain]


def _digression_record():
    from task_router.evaluation import parse_records

    texts = ["do a", "which one?", "what is the capital of peru", "Sorry, I can't help with that here.", "the red one"]
    return parse_records(
        [
            {
                "id": "unflagged",
                "tasks": [{"name": "a", "description": "Task a."}, {"name": "b", "description": "Task b."}],
                "turns": [{"role": ("user", "assistant")[i % 2], "text": text} for i, text in enumerate(texts)],
                "labels": [  # gold NONE while "a" is active, written without the digression flag
                    {"turn_index": 0, "task": "a", "event": "START"},
                    {"turn_index": 2, "task": "NONE", "event": "NONE"},
                    {"turn_index": 4, "task": "a", "event": "CONTINUE"},
                ],
            }
        ]
    )


def test_a_gold_none_while_a_task_is_active_is_a_digression_flag_or_not() -> None:
    """metrics.json's ``digressions`` is "gold NONE while a task is active" (docs/contract.md), as the LangSmith
    evaluators count it: a label without ``digression: true`` mid-task is one too, and the turn after it is the
    ``after_digression`` turn."""
    from task_router.evaluators import digression_detection
    from tests.unit_tests.fakes import Scripted

    answers = {"do a": Prediction("a"), "what is the capital of peru": Prediction(None), "the red one": Prediction("a")}

    def answer(routing: RoutingInput) -> Prediction:
        return answers[routing.last_user_text]

    predictions = replay(_digression_record(), Scripted(answer), progress=False)
    assert [(p.event, p.active_before) for p in predictions] == [("START", None), ("NONE", "a"), ("CONTINUE", "a")]
    figures = compute_metrics([p.result for p in predictions])
    assert figures["digressions"]["support"] == 1 and figures["digressions"]["recall"] == 1.0
    assert figures["after_digression"] == {"task_accuracy": 1.0, "n": 1}
    # the same turns through the LangSmith summary evaluator (gold active task in the inputs)
    outputs = [
        {"event": p.event, "task": p.task, "active_task_after": "a" if p.digression else None} for p in predictions
    ]
    references = [{"event": p.gold_event, "task": p.gold_task} for p in predictions]
    inputs = [{"active_task": p.active_before} for p in predictions]
    langsmith = {r["key"]: r["score"] for r in digression_detection(outputs, references, inputs)["results"]}
    assert langsmith["digression_support"] == figures["digressions"]["support"]


def test_the_margin_asked_about_is_only_that_of_a_decision_picking_a_task() -> None:
    """risk-coverage counts the turns the graph would ask on: never a NONE or END decision (task_router._clarify),
    whatever the close tasks behind it."""
    close = [
        {"event": "START", "task": "a", "probability": 0.46},
        {"event": "START", "task": "b", "probability": 0.44},
        {"event": "NONE", "task": None, "probability": 0.10},
    ]
    gold = {"event": "NONE", "task": "NONE"}
    picked = TurnResult.from_outputs({"event": "START", "task": "a", "alternatives": close}, gold)
    assert picked.margin == pytest.approx(0.02)
    off_topic = TurnResult.from_outputs({"event": "NONE", "task": None, "alternatives": close}, gold)
    assert off_topic.margin is None
    done = TurnResult.from_outputs({"event": "END", "task": "a", "alternatives": close}, gold)
    assert done.margin is None


class EmbedsTheCatalogue(Router):
    """A router with one-off work per catalogue (embedding its tasks, as the embedding and learned routers do):
    done by ``warm(catalog)``, else by the first decision on that catalogue, inside its timed latency."""

    kind = "embeds"

    def __init__(self) -> None:
        super().__init__(model_label="fake")
        self.embedded_in_turns: list[list[str]] = []
        self.embedded_in_warm: list[list[str]] = []
        self.deciding = False

    def task_matrix(self, catalog: TaskCatalog) -> list[str]:
        def embed() -> list[str]:
            (self.embedded_in_turns if self.deciding else self.embedded_in_warm).append(catalog.names)
            return catalog.names

        return catalog.memo("test.tasks", embed)

    def warm(self, catalog: TaskCatalog | None = None) -> None:
        if catalog is not None:
            self.task_matrix(catalog)

    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        self.deciding = True
        try:
            self.task_matrix(routing.catalog)
        finally:
            self.deciding = False
        return Prediction(routing.active_task)


def test_a_decision_s_latency_never_includes_embedding_its_conversation_s_catalogue() -> None:
    """docs/contract.md: latency_ms is the decision's wall time, not start-up (Router.warm). chat and route warm the
    router with their catalogue; the replay does it for each conversation's catalogue before its first timed turn
    (once per distinct catalogue), so the first turn's latency is not the catalogue's embedding."""
    records = [*load_dataset(FIXTURE), *_digression_record()]  # two catalogues: recap/email/flight, then a/b
    router = EmbedsTheCatalogue()
    predictions = replay(records, router, progress=False)
    assert len(predictions) == 10
    assert router.embedded_in_turns == []
    assert router.embedded_in_warm == [["recap", "email", "flight"], ["a", "b"]]


def test_a_composition_s_decisions_are_held_to_the_contract_as_the_graph_holds_them() -> None:
    """docs/contract.md: a decision from a composition passed as the router is held to the contract before it is
    acted on (a NONE keeps the active task). A NONE whose ``active_task_after`` was left out (None) is still a
    digression: the replay's own state keeps the task, as the graph's does, and the next turn continues it."""
    from langchain_core.runnables import RunnableLambda

    from task_router import RouteDecision

    def decide(value: dict) -> RouteDecision:
        if value["messages"][-1]["content"] == "what is the capital of peru":
            return RouteDecision(event="NONE")  # active_task_after not given: None
        return RouteDecision(event="CONTINUE" if value["active_task"] == "a" else "START", task="a")

    predictions = replay(_digression_record(), RunnableLambda(decide), progress=False)
    assert [(p.active_before, p.event) for p in predictions] == [(None, "START"), ("a", "NONE"), ("a", "CONTINUE")]
    assert [p.digression for p in predictions] == [False, True, False]
    assert compute_metrics([p.result for p in predictions])["digressions"]["recall"] == 1.0
