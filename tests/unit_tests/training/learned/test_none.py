"""Teaching the learned router "nothing fits": off-catalogue turns made from training data, the loss's constant
NONE candidate, the held-out split and the calibration fit (pure logic, no model)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from task_router._learned.training.calibrate import NOTHING, ScoredAnswers, best_bias, fit_calibration
from task_router._learned.training.examples import record_examples, sample_negatives
from task_router._learned.training.loss import CatalogueRankingLoss
from task_router._learned.training.train import split_held_out
from task_router.evaluation import parse_records
from task_router.training._augment import (
    OffTopicConfig,
    domain_of,
    insert_off_topic,
    single_turn_records,
    written_off_topic_requests,
    written_topics,
)
from task_router.training._sequences import turn_targets

TASKS = [
    {"name": "Restaurants_1.FindRestaurants", "description": "Find a restaurant."},
    {"name": "Restaurants_1.ReserveRestaurant", "description": "Reserve a table."},
    {"name": "Flights_1.SearchFlight", "description": "Search for a flight."},
    {"name": "Media_1.FindMovies", "description": "Find movies to watch online."},
    {"name": "Movies_1.FindMovies", "description": "Find movies in theatres."},
]


def _conversation(cid: str, first: str, task: str) -> dict:
    return {
        "id": cid,
        "tasks": TASKS,
        "turns": [
            {"role": "user", "text": first},
            {"role": "assistant", "text": "Where?"},
            {"role": "user", "text": "In Oslo"},
            {"role": "assistant", "text": "Found one."},
            {"role": "user", "text": "thanks, bye"},
        ],
        "labels": [
            {"turn_index": 0, "task": task, "event": "START"},
            {"turn_index": 2, "task": task, "event": "CONTINUE"},
            {"turn_index": 4, "task": task, "event": "END"},
        ],
    }


RECORDS = parse_records(
    [
        _conversation("r", "find me a place to eat", "Restaurants_1.FindRestaurants"),
        _conversation("f", "i need a flight to Oslo", "Flights_1.SearchFlight"),
        _conversation("m", "what movies are playing", "Movies_1.FindMovies"),
    ]
)


def test_written_requests_are_many_and_distinct() -> None:
    requests = written_off_topic_requests()
    assert len(requests) >= 250 and len(set(requests)) == len(requests)
    assert not any(line.startswith("#") for line in requests)


def test_domains_merge_sgd_services_and_overlapping_domains() -> None:
    assert domain_of("Restaurants_2.ReserveRestaurant") == "Restaurants"
    assert domain_of("Media_1.FindMovies") == domain_of("Movies_1.FindMovies") == "Movies"


def test_a_digression_is_inserted_mid_task_and_the_rest_of_the_labels_stay() -> None:
    out = insert_off_topic(RECORDS, OffTopicConfig(mid_prob=1.0, start_prob=0.0, written_share=1.0), seed=0)
    for before, after in zip(RECORDS, out, strict=True):
        events = [(label.event, label.digression) for label in after.labels]
        where = events.index(("NONE", True))
        assert where in (1, 2) and events[:where] + events[where + 1 :] == [
            ("START", False),
            ("CONTINUE", False),
            ("END", False),
        ]
        inserted = after.labels[where].turn_index
        assert after.turns[inserted].text in written_off_topic_requests()
        assert after.turns[inserted + 1].role == "assistant"
        # the other turns are the original ones, and the task is still active after the digression
        kept = [after.turns[label.turn_index].text for i, label in enumerate(after.labels) if i != where]
        assert kept == [before.turns[label.turn_index].text for label in before.labels]
        assert [t.active_before for t in turn_targets(after)][where + 1] == before.labels[0].task


def test_a_request_from_another_domain_removes_that_whole_domain_from_the_catalogue() -> None:
    out = insert_off_topic(RECORDS, OffTopicConfig(mid_prob=0.0, start_prob=1.0, written_share=0.0), seed=1)
    for record in out:
        request = record.turns[0].text
        assert record.labels[0].event == "NONE" and not record.labels[0].digression
        owner = next(r for r in RECORDS if r.turns[0].text == request)
        removed = domain_of(owner.labels[0].task)
        assert removed not in {domain_of(str(t["name"])) for t in record.tasks}
        assert removed != domain_of(record.labels[1].task)  # never the conversation's own domain


def test_single_turn_records_share_a_catalogue_per_block_and_say_none_when_nothing_fits() -> None:
    out = single_turn_records(RECORDS, 40, none_share=0.5, block=4, min_tasks=2, seed=0)
    assert len(out) == 40
    blocks: dict[str, list] = {}
    for record in out:
        blocks.setdefault(record.id.rsplit("-", 1)[0], []).append(record)
    for block in blocks.values():
        assert all(r.tasks == block[0].tasks for r in block)
    for record in out:
        label = record.labels[0]
        names = {t["name"] for t in record.tasks}
        assert label.task == "NONE" or label.task in names
    assert {r.labels[0].event for r in out} == {"START", "NONE"}


def test_a_none_turn_has_no_positive_text_and_every_task_as_a_negative() -> None:
    record = insert_off_topic(RECORDS[:1], OffTopicConfig(mid_prob=1.0, start_prob=0.0), written=["tell a joke"])[0]
    examples = record_examples(record)
    none = examples[1]
    assert none.positive is None and none.event == "NONE"
    assert none.active is not None and none.active in none.negatives
    assert len(sample_negatives(none, 3, random.Random(0))) == 3


class _OneHot(nn.Module):
    """A stand-in encoder: each text's first token id picks a fixed unit vector."""

    def __init__(self, vectors: torch.Tensor) -> None:
        super().__init__()
        self.vectors = vectors

    def forward(self, features: dict) -> dict:
        return {"sentence_embedding": self.vectors[features["input_ids"][:, 0]]}


def _features(ids: list[int]) -> dict:
    return {"input_ids": torch.tensor(ids)[:, None], "attention_mask": torch.ones(len(ids), 1, dtype=torch.long)}


def test_the_none_candidate_is_a_constant_score_in_every_row() -> None:
    vectors = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]]), dim=-1)
    model = _OneHot(vectors)
    query, positive, negative = _features([0, 0]), _features([0, 1]), _features([1, 1])
    labels = torch.tensor([0, 1])  # row 0: its positive is right; row 1: nothing fits
    loss = CatalogueRankingLoss(model, scale=20.0, none_bias=0.5)
    scores_right = loss([query, positive, negative], labels)
    # with the constant far above every cosine, row 1 is nearly free and row 0 pays: the loss grows
    assert CatalogueRankingLoss(model, scale=20.0, none_bias=0.99)([query, positive, negative], labels) > scores_right
    with pytest.raises(ValueError, match="need a none_bias"):
        CatalogueRankingLoss(model, scale=20.0)([query, positive, negative], labels)
    hard = CatalogueRankingLoss(model, scale=20.0, none_bias=0.5, hard_weight=1.0)([query, positive, negative], labels)
    assert hard > scores_right


def test_the_held_out_split_is_stable_and_disjoint() -> None:
    records = parse_records(
        [_conversation(f"c{i}", "find a place", "Restaurants_1.FindRestaurants") for i in range(200)]
    )
    train, held = split_held_out(records, 0.1)
    assert {r.id for r in train}.isdisjoint({r.id for r in held}) and len(train) + len(held) == 200
    assert [r.id for r in split_held_out(list(reversed(records)), 0.1)[1]] == [r.id for r in reversed(held)]
    assert split_held_out(records, 0.0) == (records, [])


def test_a_split_by_service_trains_on_none_of_the_held_out_services_tasks() -> None:
    task_of = {"Restaurants_1": "Restaurants_1.FindRestaurants", "Flights_1": "Flights_1.SearchFlight"}
    records = parse_records(
        [
            {**_conversation(f"c{i}", "find one", task_of[service]), "services": [service]}
            for i, service in enumerate(["Restaurants_1", "Flights_1"] * 20)
        ]
    )
    train, held = split_held_out(records, 0.3, by="service")
    held_services = {s for r in held for s in r.services}
    assert len(held_services) == 1 and len(train) == len(held) == 20
    assert all(held_services.isdisjoint(r.services) for r in train)
    assert not any(t["name"].split(".")[0] in held_services for r in train for t in r.tasks)
    assert [r.id for r in split_held_out(list(reversed(records)), 0.3, by="service")[1]] == [
        r.id for r in reversed(held)
    ]
    with pytest.raises(ValueError, match="leaves none to train on"):
        split_held_out(records, 0.9, by="service")
    unnamed = parse_records([_conversation("c0", "find one", "Restaurants_1.FindRestaurants")])
    with pytest.raises(ValueError, match="name its services"):
        split_held_out(unnamed, 0.1, by="service")


def test_the_none_score_is_fitted_between_in_and_out_of_catalogue_turns() -> None:
    inside = [ScoredAnswers(np.array([0.7 + 0.001 * i, 0.2]), 0, False) for i in range(50)]
    outside = [ScoredAnswers(np.array([0.3 + 0.001 * i, 0.1]), NOTHING, False) for i in range(50)]
    bias, accuracy = best_bias(inside + outside)
    assert 0.35 <= bias <= 0.7 and accuracy == 1.0
    fit = fit_calibration(inside + outside + [ScoredAnswers(np.array([0.6, 0.5, 0.2]), 2, True)], scale=20.0)
    assert fit["temperature"] > 0 and 0.0 <= fit["ece"] <= 1.0
    assert fit["turns"] == 101 and fit["nothing_fits_turns"] == 50
    # every score between the two groups is as good: the range says so, around the one picked
    low, high = fit["near_best"]["none_bias"]
    assert (low, high) == (0.35, 0.7) and low <= fit["none_bias"] <= high


def test_a_fit_keeps_the_models_none_score_for_a_kind_of_turn_without_none_turns() -> None:
    # Digressions only (NONE with a task active, never with none active), as in sgd_digress_dev: the nothing-active
    # score cannot be placed, so the model's own stays; the task-active one is fitted between its two groups.
    idle = [ScoredAnswers(np.array([0.7 + 0.001 * i, 0.2]), 0, False) for i in range(50)]
    on_task = [ScoredAnswers(np.array([0.6, 0.65 + 0.001 * i, 0.1]), 1, True) for i in range(30)]
    digressions = [ScoredAnswers(np.array([0.3, 0.25 + 0.001 * i, 0.1]), NOTHING, True) for i in range(30)]
    own = {"none_bias": 0.4, "none_bias_active": 0.44}
    fit = fit_calibration(idle + on_task + digressions, scale=20.0, keep=own)
    assert fit["kept"] == ["none_bias"] and fit["none_bias"] == 0.4
    assert fit["none_turns"] == {"none_bias": 0, "none_bias_active": 30}  # each score's evidence, for fit's warning
    assert 0.33 <= fit["none_bias_active"] <= 0.6 and fit["accuracy_task_active"] == 1.0
    unfitted = fit_calibration(idle + on_task + digressions, scale=20.0)  # no model scores given: both fitted
    assert unfitted["kept"] == [] and unfitted["none_bias"] < 0.4  # "never NONE" scores best on these turns
    only_idle = fit_calibration(idle, scale=20.0, keep=own)  # no turn with a task active, no NONE either
    assert only_idle["kept"] == ["none_bias", "none_bias_active"]
    assert (only_idle["none_bias"], only_idle["none_bias_active"]) == (0.4, 0.44)
    one_each = fit_calibration([*idle[:1], digressions[0], on_task[0]], scale=20.0, keep=own)
    assert one_each["kept"] == ["none_bias"]  # one NONE and one task turn with a task active are enough to place it


def test_written_requests_are_grouped_under_topic_tasks() -> None:
    topics = written_topics()
    assert len(topics) >= 25 and all(description.endswith(".") for description, _ in topics.values())
    grouped = {request for _, requests in topics.values() for request in requests}
    assert grouped < set(written_off_topic_requests())  # the "## -" group has no task


def test_topic_requests_are_in_scope_when_their_task_is_in_the_catalogue_and_none_otherwise() -> None:
    topic_of = {request: name for name, (_, requests) in written_topics().items() for request in requests}
    out = single_turn_records(RECORDS, 400, none_share=0.5, block=4, min_tasks=2, seed=2)
    started_on_topic = 0
    for record in out:
        label, text = record.labels[0], record.turns[0].text
        names = {t["name"] for t in record.tasks}
        if label.task in topic_of.values():
            started_on_topic += 1
            assert topic_of[text] == label.task and label.event == "START"
        elif label.task == "NONE" and text in topic_of:
            assert topic_of[text] not in names  # off the catalogue: its own topic's task is not offered
    assert started_on_topic > 20


def test_distractor_topic_tasks_never_fit_the_inserted_request() -> None:
    config = OffTopicConfig(mid_prob=1.0, start_prob=1.0, written_share=1.0, distractor_prob=1.0)
    topic_of = {request: name for name, (_, requests) in written_topics().items() for request in requests}
    for seed in range(5):
        for record in insert_off_topic(RECORDS, config, seed=seed):
            names = {t["name"] for t in record.tasks}
            assert names & set(topic_of.values())  # distractors were added
            for label in record.labels:
                if label.event == "NONE":
                    assert topic_of.get(record.turns[label.turn_index].text) not in names
