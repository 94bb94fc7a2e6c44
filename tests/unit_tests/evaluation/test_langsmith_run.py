"""The LangSmith evaluators give the offline runner's figures, and offline runs open no network socket."""

from __future__ import annotations

import socket

import pytest

from task_router.evaluation import compute_metrics, load_dataset, replay
from task_router.evaluation._langsmith_run import evaluate_turns
from task_router.evaluators import TURN_EVALUATORS
from tests.unit_tests.evaluation.scripted import FIXTURE, ScriptedRouter


@pytest.fixture
def tracing_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """Environment of a user with LangSmith tracing on: an offline run must still stay off the network."""
    monkeypatch.setenv("LANGSMITH_TRACING", "true")
    monkeypatch.setenv("LANGCHAIN_TRACING_V2", "true")
    monkeypatch.setenv("LANGSMITH_API_KEY", "lsv2_pt_not_a_real_key")


@pytest.fixture
def socket_attempts(socket_disabled: None, monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Every attempt to open a socket, also from background threads (where pytest-socket's error may be swallowed)."""
    attempts: list[tuple] = []
    guarded = socket.socket  # pytest-socket's class, whose constructor raises

    class RecordingSocket(guarded):  # a class, not a function: modules may still subclass socket.socket
        def __new__(cls, *args: object, **kwargs: object) -> socket.socket:
            attempts.append(args)
            return guarded.__new__(cls, *args, **kwargs)

    monkeypatch.setattr(socket, "socket", RecordingSocket)
    return attempts


@pytest.fixture
def langsmith_run(socket_attempts: list[tuple], tracing_configured: None) -> tuple[list, dict]:
    run = evaluate_turns(load_dataset(FIXTURE), ScriptedRouter())
    assert socket_attempts == []
    return run


def test_summary_evaluators_match_the_offline_metrics(langsmith_run: tuple[list, dict]) -> None:
    predictions, figures = langsmith_run
    offline = compute_metrics([p.result for p in replay(load_dataset(FIXTURE), ScriptedRouter(), state="gold")])
    assert figures["task_accuracy"] == offline["task_accuracy"] == pytest.approx(5 / 7)
    assert figures["task_selection_accuracy"] == offline["task_selection_accuracy"]
    assert figures["event_accuracy"] == offline["event_accuracy"]
    for event, scores in offline["events"].items():
        for name, value in scores.items():
            assert figures[f"{event}_{name}"] == value, (event, name)
    for name, value in offline["none_detection"].items():
        assert figures[f"none_{name}"] == value
    assert figures["invalid_format"] == offline["invalid_format"] == 1
    assert figures["confusion_events"] == offline["confusion"]["events"]
    assert figures["confusion_tasks"] == offline["confusion"]["tasks"]
    online = compute_metrics([p.result for p in predictions])
    # A decision's latency is its composition's wall time, at least the scripted one: on a busy machine a turn can
    # take longer than its script says, in either run, so latencies are compared with what each run measured.
    assert figures["latency_p50_ms"] == online["latency_ms"]["p50"] >= 40.0
    assert figures["latency_p95_ms"] == online["latency_ms"]["p95"]
    assert {k: v for k, v in online.items() if k != "latency_ms"} == {
        k: v for k, v in offline.items() if k != "latency_ms"
    }


def test_per_turn_evaluators_agree_with_the_turns(langsmith_run: tuple[list, dict]) -> None:
    predictions, _ = langsmith_run
    assert [(p.gold_event, p.event) for p in predictions] == [
        ("START", "START"),
        ("CONTINUE", "CONTINUE"),
        ("SWITCH", "CONTINUE"),
        ("END", "END"),
        ("NONE", "NONE"),
        ("START", "NONE"),
        ("CONTINUE", "CONTINUE"),
    ]
    outputs, reference = (
        {"event": "CONTINUE", "task": "recap", "valid_format": False, "latency_ms": 30.0},
        {
            "event": "SWITCH",
            "task": "email",
        },
    )
    scores = {}
    for evaluator in TURN_EVALUATORS:
        takes_reference = "reference_outputs" in evaluator.__code__.co_varnames
        result = evaluator(outputs, reference) if takes_reference else evaluator(outputs)
        scores[result["key"]] = (result["score"], result.get("value"))
    assert scores == {
        "task_correct": (0, None),
        "event_correct": (0, None),
        "start_detected": (1, "neither"),
        "switch_detected": (0, "miss"),
        "end_detected": (1, "neither"),
        "none_detected": (1, "neither"),
        "digression_detected": (1, "neither"),
        "valid_format": (0, None),
        "latency_ms": (30.0, None),
    }


def test_offline_replay_opens_no_socket(socket_attempts: list[tuple], tracing_configured: None) -> None:
    predictions = replay(load_dataset(FIXTURE), ScriptedRouter(), progress=False)
    assert len(predictions) == 7
    assert socket_attempts == []


@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket")  # it does, on purpose
def test_socket_recorder_sees_attempts(socket_attempts: list[tuple]) -> None:
    with pytest.raises(Exception, match="socket"):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    assert socket_attempts == [(socket.AF_INET, socket.SOCK_STREAM)]


def test_a_langsmith_turn_s_latency_never_includes_embedding_its_catalogue() -> None:
    """As in the offline replay: the router is warmed up on each conversation's catalogue before its first turn."""
    from tests.unit_tests.evaluation.test_metrics import EmbedsTheCatalogue, _digression_record

    router = EmbedsTheCatalogue()
    predictions, _ = evaluate_turns([*load_dataset(FIXTURE), *_digression_record()], router)
    assert len(predictions) == 10
    assert router.embedded_in_turns == []
    assert router.embedded_in_warm == [["recap", "email", "flight"], ["a", "b"]]
