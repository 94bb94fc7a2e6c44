"""Calibration: ECE, reliability bins, abstention curve, threshold choice, thresholds files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from task_router import TaskCatalog
from task_router._calibration import (
    abstention_curve,
    choose_escalation,
    choose_none_threshold,
    expected_calibration_error,
    plot_abstention,
    plot_reliability,
    reliability_curve,
)
from task_router._thresholds import ScoredTurn, Thresholds, apply_none, load_thresholds, save_thresholds


def test_ece_of_a_perfectly_calibrated_and_an_overconfident_router():
    assert expected_calibration_error([0.75] * 4, [True, True, True, False]) == pytest.approx(0.0)
    assert expected_calibration_error([0.95] * 4, [True, False, False, False]) == pytest.approx(0.7)
    curve = reliability_curve([0.05, 0.15, 0.16, 0.99], [False, True, False, True], n_bins=10)
    assert curve["count"] == [1, 2, 1] and curve["accuracy"] == [0.0, 0.5, 1.0]


def test_confidences_must_be_in_range():
    with pytest.raises(ValueError, match=r"0\.\.1"):
        expected_calibration_error([1.5], [True])
    with pytest.raises(ValueError, match="one confidence per decision"):
        expected_calibration_error([0.5, 0.2], [True])


def test_apply_none_abstains_only_on_new_tasks():
    assert apply_none(ScoredTurn("a", 0.2, "a"), 0.5) == "NONE"
    assert apply_none(ScoredTurn("b", 0.2, "a", active="a"), 0.5) == "a"  # no switch: the active task continues
    assert apply_none(ScoredTurn("a", 0.2, "a", active="a"), 0.5) == "a"  # continuing is not a proposal
    assert apply_none(ScoredTurn("a", 0.7, "a"), 0.5) == "a"


TURNS = [
    ScoredTurn("a", 0.9, "a"),
    ScoredTurn("b", 0.8, "b"),
    ScoredTurn("c", 0.6, "a"),  # wrong, mid confidence
    ScoredTurn("a", 0.55, "a"),
    ScoredTurn("b", 0.4, "NONE"),
    ScoredTurn("c", 0.3, "NONE"),
]


def test_abstention_curve_trades_in_scope_accuracy_for_none_recall():
    curve = abstention_curve(TURNS, [0.0, 0.5, 0.58, 0.95])
    assert curve["none_recall"] == [0.0, 1.0, 1.0, 1.0]
    assert curve["in_scope_accuracy"] == [0.75, 0.75, 0.5, 0.0]
    assert curve["accuracy"][1] == pytest.approx(5 / 6)


def test_choose_none_threshold_by_accuracy_and_by_target():
    threshold, point = choose_none_threshold(TURNS)
    assert 0.4 < threshold <= 0.55 and point["accuracy"] == pytest.approx(5 / 6)
    threshold, point = choose_none_threshold(TURNS, min_in_scope_accuracy=0.75)
    assert point["met"] and point["none_recall"] == 1.0 and point["in_scope_accuracy"] >= 0.75
    _, point = choose_none_threshold(TURNS, min_in_scope_accuracy=0.99)
    assert point["met"] is False


def test_choose_escalation_sends_the_unsure_band_to_the_strong_router():
    strong = ["a", "b", "a", "a", "NONE", "NONE"]  # right where the cheap one is wrong
    none, escalate, point = choose_escalation(TURNS, strong)
    assert point["accuracy"] == 1.0 and none <= 0.6 < escalate
    _, _, capped = choose_escalation(TURNS, strong, max_escalation=0.0)
    assert capped["escalated"] == 0.0 and capped["accuracy"] < 1.0
    with pytest.raises(ValueError, match="same"):
        choose_escalation(TURNS, strong[:2])


def test_thresholds_saved_alone_or_with_the_catalogue(tmp_path, catalog):
    fitted = Thresholds(router="embedding", model="m", none=0.42, escalate=0.6, shortlist=10, metrics={"ece": 0.1})
    alone = save_thresholds(tmp_path / "t.json", fitted)
    assert load_thresholds(alone).none == 0.42
    with_tasks = save_thresholds(tmp_path / "catalog.yaml", fitted, catalog.to_records())
    assert TaskCatalog.from_file(with_tasks).names == catalog.names  # catalogue loading still works
    loaded = load_thresholds(with_tasks)
    assert (loaded.escalate, loaded.shortlist, loaded.metrics) == (0.6, 10, {"ece": 0.1})
    with pytest.raises(ValueError, match="task-router fit"):
        load_thresholds(save_thresholds(tmp_path / "x.yaml", fitted, None).with_name("missing.yaml"))
    (tmp_path / "plain.yaml").write_text("- name: a\n  description: b\n")
    with pytest.raises(ValueError, match="holds no thresholds"):
        load_thresholds(tmp_path / "plain.yaml")


def test_a_figure_that_could_not_be_measured_is_saved_as_null_in_strict_json(tmp_path):
    """A dev set without NONE turns has no NONE recall (NaN): the file stays JSON any tool reads."""
    fitted = Thresholds(router="embedding", none=0.4, metrics={"none_recall": float("nan"), "ece": 0.1})
    text = save_thresholds(tmp_path / "t.json", fitted).read_text()
    assert json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the file"))["metrics"] == {
        "none_recall": None,
        "ece": 0.1,
    }
    assert load_thresholds(tmp_path / "t.json").none == 0.4


def test_plots_are_written(tmp_path):
    reliability = plot_reliability([0.2, 0.8, 0.9], [False, True, True], tmp_path / "r.png", title="t")
    abstention = plot_abstention(abstention_curve(TURNS), tmp_path / "a.png", title="t", chosen=0.5)
    assert reliability.stat().st_size > 1000 and abstention.stat().st_size > 1000
    assert not math.isnan(abstention_curve(TURNS)["none_recall"][0])


def test_a_failed_save_leaves_the_previous_thresholds_file_whole(tmp_path, monkeypatch):
    path = save_thresholds(tmp_path / "t.json", Thresholds(router="embedding", none=0.3))
    write_text = Path.write_text

    def interrupted(self, text, *args, **kwargs):
        write_text(self, text[: len(text) // 2], *args, **kwargs)
        raise KeyboardInterrupt  # Ctrl-C (or a full disk) half-way through the file

    monkeypatch.setattr(Path, "write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_thresholds(path, Thresholds(router="embedding", none=0.5))
    monkeypatch.undo()
    assert load_thresholds(path).none == 0.3
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]  # no partial file left behind
