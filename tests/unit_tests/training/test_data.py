"""Training targets, label rewriting and augmentation: pure logic over the hand-made fixture."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from task_router._catalog import NONE_LABEL
from task_router.evaluation import ConversationRecord, load_dataset
from task_router.training import AugmentConfig, augment_records, labels_from_answers, rename_tasks, turn_targets
from tests.conftest import FIXTURES

FIXTURE = FIXTURES / "train_tiny.jsonl"


@pytest.fixture(scope="module")
def records() -> list[ConversationRecord]:
    return load_dataset(FIXTURE)


def test_targets_follow_the_scoring_router_answers(records: list[ConversationRecord]) -> None:
    flights, music, hotel, oos = (turn_targets(r) for r in records)
    assert [(t.answer, t.closing) for t in flights] == [
        ("Flights.BookFlight", None),
        ("Flights.BookFlight", False),
        ("Weather.GetForecast", None),
        ("Weather.GetForecast", True),
    ]
    actives = [None, "Flights.BookFlight", "Flights.BookFlight", "Weather.GetForecast"]
    assert [t.active_before for t in flights] == actives
    # END of the active task: "still that task, finished"; the next request starts from nothing.
    assert [(t.answer, t.closing, t.active_before) for t in music][1:] == [
        ("Music.PlaySong", True, "Music.PlaySong"),
        ("Banks.Transfer", None, None),
    ]
    assert [t.event for t in hotel] == ["START", "CONTINUE", "END"]
    assert [(t.answer, t.event) for t in oos] == [(NONE_LABEL, "NONE")]


def test_targets_reproduce_the_gold_events(records: list[ConversationRecord]) -> None:
    for record in records:
        assert [t.event for t in turn_targets(record)] == [label.event for label in record.labels]
        assert [t.active_before for t in turn_targets(record)] == record.gold_active_tasks()


def test_labels_from_answers_derive_events() -> None:
    answers = [("a", False), ("b", False), (None, False), (None, True), ("c", True)]
    labels = labels_from_answers([0, 2, 4, 6, 8], answers)
    assert [(x["task"], x["event"]) for x in labels] == [
        ("a", "START"),
        ("b", "SWITCH"),
        ("NONE", "NONE"),  # off topic while b is active: a digression, b stays active
        ("b", "END"),  # "nothing" while closing: b is done
        ("c", "START"),
    ]
    assert labels[2]["digression"] is True and "digression" not in labels[3]
    with pytest.raises(ValueError, match="one answer per user turn"):
        labels_from_answers([0], [])


def test_augmentation_is_deterministic_and_seed_dependent(records: list[ConversationRecord]) -> None:
    config = AugmentConfig(copies=3, min_tasks=2, max_tasks=4, rename_prob=0.5, drop_gold_prob=0.3)
    first = [r.model_dump() for r in augment_records(records, config, seed=7)]
    again = [r.model_dump() for r in augment_records(records, config, seed=7)]
    other = [r.model_dump() for r in augment_records(records, config, seed=8)]
    assert first == again
    assert first != other
    # The choices of one record do not depend on the others (stable when the data grows).
    alone = [r.model_dump() for r in augment_records(records[2:3], config, seed=7)]
    assert alone == first[6:9]


def test_shuffle_and_resize_keep_the_conversation_tasks(records: list[ConversationRecord]) -> None:
    config = AugmentConfig(copies=20, drop_gold_prob=0.0, rename_prob=0.0, min_tasks=2, max_tasks=3)
    flights = records[0]
    orders, sizes = set(), Counter()
    for record in augment_records([flights], config, seed=1):
        names = [t["name"] for t in record.tasks]
        assert {"Flights.BookFlight", "Weather.GetForecast"} <= set(names)
        assert record.labels == flights.labels  # nothing dropped or renamed: same labels
        orders.add(tuple(names))
        sizes[len(names)] += 1
    assert len(orders) > 1 and set(sizes) == {2, 3}


def test_dropping_a_gold_task_turns_its_turns_into_none(records: list[ConversationRecord]) -> None:
    config = AugmentConfig(copies=10, drop_gold_prob=1.0, rename_prob=0.0, min_tasks=5, max_tasks=5)
    seen_drops = set()
    for record in augment_records(records[:1], config, seed=3):
        names = {t["name"] for t in record.tasks}
        dropped = {"Flights.BookFlight", "Weather.GetForecast"} - names
        assert len(dropped) == 1
        seen_drops |= dropped
        for label in record.labels:
            assert label.task == NONE_LABEL or label.task in names
        if dropped == {"Flights.BookFlight"}:
            assert [(x.task, x.event) for x in record.labels] == [
                ("NONE", "NONE"),
                ("NONE", "NONE"),
                ("Weather.GetForecast", "START"),
                ("Weather.GetForecast", "END"),
            ]
        else:
            # The switch to the dropped task is now off topic (the flight stays active), its closing ends the flight.
            assert [(x.task, x.event, x.digression) for x in record.labels][2:] == [
                ("NONE", "NONE", True),
                ("Flights.BookFlight", "END", False),
            ]
    assert seen_drops == {"Flights.BookFlight", "Weather.GetForecast"}


def test_renaming_rewrites_catalogue_and_labels_together(records: list[ConversationRecord]) -> None:
    config = AugmentConfig(copies=12, drop_gold_prob=0.0, rename_prob=1.0, min_tasks=5, max_tasks=5)
    originals = {t["name"] for t in records[0].tasks}
    for record in augment_records(records[:1], config, seed=5):
        names = {t["name"] for t in record.tasks}
        assert len(names) == 5
        assert all(label.task in names for label in record.labels)
        assert [x.event for x in record.labels] == [x.event for x in records[0].labels]
        by_description = {t["description"]: t["name"] for t in record.tasks}
        flight = by_description["Book a plane ticket between two cities on a date."]
        assert record.labels[0].task == flight
        record.catalog()  # every new name is a valid task name
    assert names != originals


@pytest.mark.parametrize(
    ("style", "expected"),
    [("snake", "restaurants_1.reserve_restaurant"), ("opaque", r"task_[a-z]{4}"), ("renumber", r"Restaurants_\d+\.")],
)
def test_rename_styles(style: str, expected: str) -> None:
    import re

    new = rename_tasks(["Restaurants_1.ReserveRestaurant"], style, random.Random(0))["Restaurants_1.ReserveRestaurant"]
    assert re.match(expected, new)


def test_rename_keeps_names_unique() -> None:
    mapping = rename_tasks(["a.B", "a_b", "A.B"], "snake", random.Random(0))
    assert len(set(mapping.values())) == 3


def test_bad_configs_say_how_to_fix() -> None:
    with pytest.raises(ValueError, match="min_tasks <= max_tasks"):
        AugmentConfig(min_tasks=5, max_tasks=2)
    with pytest.raises(ValueError, match="probability"):
        AugmentConfig(drop_gold_prob=1.5)
    with pytest.raises(ValueError, match="copies"):
        AugmentConfig(copies=0)
    with pytest.raises(ValueError, match="unknown rename style"):
        rename_tasks(["a"], "bogus", random.Random(0))


def test_closing_without_wrap_up_removes_the_exchange_before_an_end_and_nothing_else(
    records: list[ConversationRecord],
) -> None:
    from task_router.training._augment import close_without_wrap_up

    closed = close_without_wrap_up(records, prob=1.0, seed=3)
    assert close_without_wrap_up(records, prob=1.0, seed=3) == closed  # deterministic
    assert close_without_wrap_up(records, prob=0.0) == records
    changed = [(before, after) for before, after in zip(records, closed, strict=True) if before is not after]
    assert changed, "the fixture has conversations that end with a wrap-up"
    for before, after in changed:
        texts_before, texts_after = [t.text for t in before.turns], [t.text for t in after.turns]
        at = next(i for i, (b, a) in enumerate(zip(texts_before, texts_after, strict=False)) if b != a)
        assert texts_after == texts_before[:at] + texts_before[at + 2 :]  # one user turn and its reply removed
        removed = next(label for label in before.labels if label.turn_index == at)
        end = next(label for label in after.labels if label.turn_index == at)
        assert (removed.event, end.event, end.task) == ("CONTINUE", "END", removed.task)
        turn_targets(after)  # the labels still make one consistent trajectory
    with pytest.raises(ValueError, match="share of conversations"):
        close_without_wrap_up(records, prob=1.5)
