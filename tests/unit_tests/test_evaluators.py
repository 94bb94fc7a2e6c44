"""The LangSmith evaluators on hand-made decision dumps: digressions per turn and over an experiment, every summary
evaluator on decisions of the new contract, and the node paths of a digression and of a question."""

from __future__ import annotations

import pytest

from task_router._decision import RouteDecision
from task_router.evaluators import SUMMARY_EVALUATORS, TURN_EVALUATORS, digression_detected, digression_detection
from task_router.evaluators.trajectory import decisions_trajectory, reference_trajectory

# (decision, gold reference, the example's inputs)
TURNS = [
    (RouteDecision(event="START", task="recap"), {"event": "START", "task": "recap"}, {"active_task": None}),
    (  # an off-topic request mid-task, seen
        RouteDecision(event="NONE", active_task_after="recap"),
        {"event": "NONE", "task": "NONE", "digression": True},
        {"active_task": "recap"},
    ),
    (  # another, missed: the router continued the task
        RouteDecision(event="CONTINUE", task="recap"),
        {"event": "NONE", "task": "NONE"},
        {"active_task": "recap"},
    ),
    (  # a false alarm: the user was still on the task
        RouteDecision(event="NONE", active_task_after="recap"),
        {"event": "CONTINUE", "task": "recap"},
        {"active_task": "recap"},
    ),
    (RouteDecision(event="END", task="recap"), {"event": "END", "task": "recap"}, {"active_task": "recap"}),
    (RouteDecision(event="NONE"), {"event": "NONE", "task": "NONE"}, {"active_task": None}),  # no task: no digression
]
OUTPUTS = [decision.model_dump() for decision, _, _ in TURNS]
REFERENCES = [reference for _, reference, _ in TURNS]
INPUTS = [inputs for _, _, inputs in TURNS]


def test_digression_detected_per_turn() -> None:
    values = [digression_detected(o, r, i)["value"] for o, r, i in zip(OUTPUTS, REFERENCES, INPUTS, strict=True)]
    assert values == ["neither", "hit", "miss", "false_alarm", "neither", "neither"]
    scores = [digression_detected(o, r, i)["score"] for o, r, i in zip(OUTPUTS, REFERENCES, INPUTS, strict=True)]
    assert scores == [1, 1, 0, 0, 1, 1]


def test_digression_without_inputs_reads_the_reference_flag_and_the_decision() -> None:
    """Called as ``(outputs, reference_outputs)`` only (as the other per-turn evaluators): the flag and the
    decision's ``active_task_after`` say it; a decision dumped before that field existed needs the inputs."""
    assert digression_detected(OUTPUTS[1], REFERENCES[1])["value"] == "hit"
    assert digression_detected(OUTPUTS[2], REFERENCES[2])["value"] == "neither"  # no flag, no active task known
    old_dump = {"event": "NONE", "task": None}
    assert digression_detected(old_dump, {"event": "NONE", "task": "NONE", "active_task": "recap"})["value"] == "hit"
    assert digression_detected(old_dump, {"event": "NONE", "task": "NONE"})["value"] == "neither"


def test_digression_detection_over_an_experiment() -> None:
    figures = {r["key"]: r["score"] for r in digression_detection(OUTPUTS, REFERENCES, INPUTS)["results"]}
    assert figures == {
        "digression_precision": 0.5,
        "digression_recall": 0.5,
        "digression_f1": 0.5,
        "digression_support": 2,
    }
    flags_only = {r["key"]: r["score"] for r in digression_detection(OUTPUTS, REFERENCES)["results"]}
    assert flags_only["digression_support"] == 1 and flags_only["digression_recall"] == 1.0


def test_every_evaluator_runs_on_decisions_of_the_new_contract() -> None:
    for evaluator in TURN_EVALUATORS:
        names = evaluator.__code__.co_varnames[: evaluator.__code__.co_argcount]
        for output, reference, inputs in zip(OUTPUTS, REFERENCES, INPUTS, strict=True):
            given = {"outputs": output, "reference_outputs": reference, "inputs": inputs}
            result = evaluator(**{name: given[name] for name in names})
            assert result["key"] and isinstance(result["score"], int | float)
    figures: dict[str, object] = {}
    for evaluator in SUMMARY_EVALUATORS:
        result = evaluator(OUTPUTS, REFERENCES)
        for item in result.get("results", [result]):
            figures[item["key"]] = item.get("score", item.get("value"))
    assert figures["NONE_support"] == 3 and figures["event_accuracy"] == pytest.approx(4 / 6)
    assert figures["digression_support"] == 1 and figures["invalid_format"] == 0
    assert figures["none_recall"] == pytest.approx(2 / 3)  # gold NONE: the digressions and the plain NONE


def test_summary_evaluators_take_the_inputs_through_langsmith_signatures() -> None:
    """LangSmith passes ``inputs`` to an evaluator that names it; the digression evaluators do, with a default."""
    import inspect

    assert list(inspect.signature(digression_detected).parameters) == ["outputs", "reference_outputs", "inputs"]
    assert list(inspect.signature(digression_detection).parameters) == ["outputs", "reference_outputs", "inputs"]


def test_node_paths_of_a_digression_and_a_question() -> None:
    decisions = [
        RouteDecision(event="START", task="recap").model_dump(),
        RouteDecision(event="NONE", active_task_after="recap").model_dump(),
        RouteDecision(event="SWITCH", task="email", clarify=["email", "post"]).model_dump(),
        RouteDecision(event="END", task="recap").model_dump(),
    ]
    assert decisions_trajectory(decisions)["steps"] == [
        ["__start__", "router", "task"],
        ["__start__", "router", "none"],
        ["__start__", "router", "clarify"],
        ["__start__", "router"],
    ]
    assert reference_trajectory(["START", "NONE", "ASK", "END"]) == decisions_trajectory(decisions)
