"""The learned router's confidence over its k best answers: the softmax, the choice of k, and the held-out large
catalogues it is chosen on (pure logic, no model)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from task_router._catalog import NONE_LABEL
from task_router._learned.model import CONFIG_FILE, LearnedConfig
from task_router._learned.router import softmax
from task_router._learned.training.calibrate import (
    FAMILIES_FILE,
    NOTHING,
    ScoredAnswers,
    choose_top_k,
    fit_calibration,
    large_catalogue_records,
)
from task_router.evaluation import parse_records
from task_router.training._augment import domain_of, written_off_topic_requests, written_topics


def test_the_softmax_over_the_k_best_gives_the_others_zero_and_keeps_the_ranking() -> None:
    scores = np.array([0.5, 3.0, 1.0, 2.0, -1.0])
    p = softmax(scores, top_k=2)
    assert p.sum() == pytest.approx(1.0)
    assert p[[0, 2, 4]].tolist() == [0.0, 0.0, 0.0]
    assert p[1] / p[3] == pytest.approx(np.e)  # the kept answers keep their odds
    assert int(p.argmax()) == int(softmax(scores).argmax()) == 1
    assert softmax(scores, top_k=5).tolist() == softmax(scores).tolist()
    assert p[1] > softmax(scores)[1]  # the far answers' mass goes to the near ones


def test_top_k_is_at_least_two_answers_and_older_model_folders_read_as_all(tmp_path) -> None:
    with pytest.raises(ValueError, match="top_k must be at least 2"):
        LearnedConfig(top_k=1)
    (tmp_path / CONFIG_FILE).write_text(json.dumps({"none_bias": 0.4, "format": 1}), encoding="utf-8")
    assert LearnedConfig.read(tmp_path).top_k is None
    LearnedConfig(top_k=3).write(tmp_path)
    assert LearnedConfig.read(tmp_path).top_k == 3


def _turn(right: bool, far: int) -> ScoredAnswers:
    """One near answer and ``far`` far ones; the near one is the right answer when ``right``."""
    return ScoredAnswers(np.array([0.8, 0.6, *[0.1] * far]), 0 if right else 1, False)


def test_k_is_chosen_where_a_large_catalogue_stops_being_under_confident() -> None:
    # 80% right on both sets; over 150 far answers the full softmax says ~0.5, over 10 it is near the truth
    small = [_turn(i % 5 != 0, far=10) for i in range(50)]
    large = [_turn(i % 5 != 0, far=150) for i in range(50)]
    chosen = choose_top_k({"small": small, "large": large}, none_bias=-1.0, none_bias_active=-1.0, scale=7.0,
                          temperature=1.0)  # fmt: skip
    assert chosen["top_k"] is not None
    assert chosen["mean_ece"][str(chosen["top_k"])] < chosen["mean_ece"]["all"]
    assert chosen["ece"]["all"]["large"] > chosen["ece"]["all"]["small"]


def test_a_tie_keeps_the_softmax_over_every_answer() -> None:
    turns = [ScoredAnswers(np.array([0.9]), 0, False), ScoredAnswers(np.array([0.1]), NOTHING, False)]
    assert (
        choose_top_k({"one": turns}, none_bias=0.5, none_bias_active=0.5, scale=20.0, temperature=1.0)["top_k"] is None
    )  # two answers a turn: every k gives the same probabilities


def test_the_fit_measures_its_ece_over_the_routers_k_best() -> None:
    turns = [_turn(i % 5 != 0, far=150) for i in range(200)]
    over_all = fit_calibration(turns, scale=7.0, temperature=1.0)
    over_three = fit_calibration(turns, scale=7.0, temperature=1.0, top_k=3)
    assert over_three["accuracy"] == over_all["accuracy"]  # the decisions are the same
    assert over_three["ece"] < over_all["ece"]


@pytest.fixture(scope="module")
def held_out():
    tasks = [
        {"name": "Trains_1.FindTrains", "description": "Find trains."},
        {"name": "Trains_1.GetTrainTickets", "description": "Buy train tickets."},
        {"name": "Hotels_2.SearchHouse", "description": "Find a house to stay in."},
    ]
    asked = [("a train to Boston", "Trains_1.FindTrains"), ("a house in Rome", "Hotels_2.SearchHouse")]
    rows = [
        {
            "id": f"c{i}",
            "tasks": tasks,
            "turns": [{"role": "user", "text": text}],
            "labels": [{"turn_index": 0, "task": task, "event": "START"}],
        }
        for i, (text, task) in enumerate(asked)
    ]
    return parse_records(rows)


@pytest.fixture(scope="module")
def large(held_out):
    return large_catalogue_records(held_out, seed=0)


FAMILIES = written_topics(FAMILIES_FILE)


def test_large_catalogues_hold_every_family_and_held_out_task(large) -> None:
    assert len(FAMILIES) >= 100
    assert max(len(record.tasks) for record in large) == len(FAMILIES) + 3
    assert {"a train to Boston", "a house in Rome"} <= {record.turns[0].text for record in large}


def test_a_none_turn_of_the_large_catalogues_has_its_whole_family_removed(large, held_out) -> None:
    owner = {text: name for name, (_, requests) in FAMILIES.items() for text in requests}
    owner.update({record.turns[0].text: record.labels[0].task for record in held_out})
    nones = [record for record in large if record.labels[0].task == NONE_LABEL]
    assert 0.15 < len(nones) / len(large) < 0.35
    for record in large:
        domain = domain_of(owner[record.turns[0].text])
        present = {domain_of(str(task["name"])) for task in record.tasks}
        assert (domain in present) == (record.labels[0].task != NONE_LABEL), record.id
        if record.labels[0].task != NONE_LABEL:
            assert record.labels[0].task == owner[record.turns[0].text]


def test_example_requests_in_a_description_are_not_asked_as_turns(large) -> None:
    with_examples = [record for record in large if record.id.startswith("large-1-")]
    family_tasks = [task for task in with_examples[0].tasks if task["name"] in FAMILIES]
    assert family_tasks and all("Examples:" in str(task["description"]) for task in family_tasks)
    in_descriptions = {text for (_, requests) in FAMILIES.values() for text in requests[:2]}
    assert not {record.turns[0].text for record in with_examples} & in_descriptions


def test_the_families_are_held_out_of_the_off_topic_requests_training_reads() -> None:
    family_requests = {text for (_, requests) in FAMILIES.values() for text in requests}
    assert not family_requests & set(written_off_topic_requests())


def test_a_held_out_conversation_that_starts_no_task_adds_no_request(held_out) -> None:
    """Training data may hold conversations with no START (an off-topic request alone, labelled NONE): they have
    no first task request to ask over the large catalogue, and must not stop the calibration after training."""
    off_topic = parse_records(
        [
            {
                "id": "off-topic",
                "tasks": held_out[0].tasks,
                "turns": [{"role": "user", "text": "what is the weather on Mars"}],
                "labels": [{"turn_index": 0, "task": NONE_LABEL, "event": "NONE"}],
            }
        ]
    )
    records = large_catalogue_records([*held_out, *off_topic], seed=0)
    assert [record.turns[0].text for record in records] == [
        record.turns[0].text for record in large_catalogue_records(held_out, seed=0)
    ]
