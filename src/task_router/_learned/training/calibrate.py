"""Fitting a trained learned router's NONE scores, temperature and ``top_k`` on held-out training conversations
and on held-out catalogues of 100+ tasks.

After training, the router's answers for each held-out turn (every task, "done" while a task is active, and
"nothing fits" at a constant score) are scored as the router scores them. Then, in this order:

1. ``none_bias`` (no task active) and ``none_bias_active`` (a task active): the constant score of "nothing fits"
   with the best accuracy on those turns (the middle of the best plateau);
2. ``temperature``: the one that minimises the negative log-likelihood of the right answers (temperature
   scaling, Guo et al. 2017), so that a decision's probability is the chance it is right;
3. ``top_k``: how many of the best answers the softmax is over, the one with the lowest ECE on those turns and on
   held-out catalogues of 100+ tasks (:func:`large_catalogue_records`, below), so that the probability means the
   same on a large catalogue.

Nothing here reads an evaluation set: the held-out conversations are a share of the training file, set aside
before training (:attr:`~task_router.training.LearnedTrainConfig.calibration_share`), and the large catalogues are
hand-written task families never trained on.

The large catalogues: a softmax over a catalogue's every task spreads probability over many far tasks; over 150
tasks it does so far more than over SGD's 7-54, so the same model is under-confident on large catalogues. The
held-out training conversations have at most SGD's tasks, so they cannot say how many answers the confidence should
be a softmax over. These records can: the hand-written task families of ``data/task_families.txt`` (never trained
on) with the held-out conversations' tasks, one catalogue of 150+ tasks. Nothing here reads an evaluation set.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from task_router._calibration import expected_calibration_error
from task_router._catalog import NONE_LABEL
from task_router._learned.router import softmax
from task_router._router_input import coerce_input
from task_router.evaluation import ConversationRecord, parse_records
from task_router.training._augment import domain_of, example_style_description, written_topics
from task_router.training._sequences import turn_targets

_BIASES = np.round(np.arange(-0.2, 1.0001, 0.005), 3)
_TEMPERATURES = np.geomspace(0.2, 5.0, 81)
DONE, NOTHING = -1, -2  # gold answers other than a task index
# Below this many turns a fitted temperature follows the few turns there are (12 right answers fit the smallest
# temperature of the grid, an overconfident router): the model's own is kept, the NONE scores still fitted.
MIN_TEMPERATURE_TURNS = 100


@dataclass(frozen=True)
class ScoredAnswers:
    """One held-out turn as the router scores it: the cosine of each task (and of "done" when a task is active),
    and the index of the right answer among them (or :data:`NOTHING` for "nothing fits")."""

    similarities: np.ndarray
    gold: int
    active: bool
    names: tuple[str | None, ...] = ()  # each similarity's task (None: "done"), for analyses of the answers
    active_task: str | None = None


def score_held_out(router: Any, records: Iterable[ConversationRecord]) -> list[ScoredAnswers]:
    """Every labelled turn of ``records``, with the gold active task before it, scored by ``router`` (a
    :class:`~task_router.routers.LearnedRouter`) exactly as it scores a turn when routing."""
    turns = []
    for record in records:
        catalog = record.catalog()
        for target in turn_targets(record):
            routing = coerce_input(
                {
                    "messages": record.messages_until(target.turn_index),
                    "active_task": target.active_before,
                    "catalog": catalog,
                }
            )
            _, names, _, similarities = router.candidates(routing)
            if target.answer == NONE_LABEL:
                gold = NOTHING
            elif target.closing:
                gold = names.index(None)
            else:
                gold = names.index(target.answer)
            turns.append(
                ScoredAnswers(
                    np.asarray(similarities, dtype=float),
                    gold,
                    routing.active_task is not None,
                    tuple(names),
                    routing.active_task,
                )
            )
    return turns


def best_bias(turns: Sequence[ScoredAnswers]) -> tuple[float, float]:
    """(the "nothing fits" score with the best accuracy on ``turns``, that accuracy)."""
    if not turns:
        raise ValueError("no held-out turns to fit the NONE score on: raise calibration_share or give more data")
    accuracy = _accuracy(turns, _BIASES)
    best = np.flatnonzero(accuracy >= accuracy.max() - 1e-12)
    plateau = best[(best >= best[0]) & (best <= best[0] + _plateau_length(best))]
    chosen = int(plateau[len(plateau) // 2])
    return float(_BIASES[chosen]), float(accuracy[chosen])


def near_best_biases(turns: Sequence[ScoredAnswers]) -> tuple[float, float]:
    """The lowest and highest "nothing fits" scores whose accuracy on ``turns`` is within one standard error of the
    best: how closely the turns fix the score :func:`best_bias` picks (a wide range: the choice within it is close to
    chance).

    Example:
        >>> inside = [ScoredAnswers(np.array([0.6 + 0.01 * i]), 0, False) for i in range(20)]
        >>> outside = [ScoredAnswers(np.array([0.2 + 0.01 * i]), NOTHING, False) for i in range(20)]
        >>> near_best_biases(inside + outside)
        (0.395, 0.6)
    """
    _, best = best_bias(turns)
    within = _BIASES[_accuracy(turns, _BIASES) >= best - standard_error(best, len(turns)) - 1e-12]
    return float(within.min()), float(within.max())


def standard_error(accuracy: float, n: int) -> float:
    """The standard error of an accuracy measured on ``n`` turns (binomial)."""
    return float(np.sqrt(accuracy * (1 - accuracy) / n))


def _plateau_length(indices: np.ndarray) -> int:
    """How many grid steps the first run of consecutive best indices spans."""
    run = 0
    while run + 1 < len(indices) and indices[run + 1] == indices[run] + 1:
        run += 1
    return run


def probabilities(
    turn: ScoredAnswers, bias: float, scale: float, temperature: float, top_k: int | None = None
) -> np.ndarray:
    """The router's probabilities over the turn's answers, "nothing fits" last."""
    return softmax(scale * np.append(turn.similarities, bias) / temperature, top_k=top_k)


def gold_index(turn: ScoredAnswers) -> int:
    """The index of the turn's right answer among :func:`probabilities`' ("nothing fits" last)."""
    return len(turn.similarities) if turn.gold == NOTHING else turn.gold


def confidences(
    turns: Sequence[ScoredAnswers],
    *,
    none_bias: float,
    none_bias_active: float,
    scale: float,
    temperature: float,
    top_k: int | None = None,
) -> tuple[list[float], list[bool]]:
    """(each turn's confidence, whether its answer is right) with these NONE scores, temperature and ``top_k``:
    what an ECE is measured on."""
    confidence, correct = [], []
    for turn in turns:
        p = probabilities(turn, none_bias_active if turn.active else none_bias, scale, temperature, top_k)
        confidence.append(float(p.max()))
        correct.append(int(p.argmax()) == gold_index(turn))
    return confidence, correct


def fit_calibration(
    turns: Sequence[ScoredAnswers],
    *,
    scale: float,
    temperature: float | None = None,
    keep: Mapping[str, float] | None = None,
    top_k: int | None = None,
) -> dict[str, Any]:
    """The NONE scores and the temperature for a learned router, with how they scored on ``turns``; a given
    ``temperature`` is kept rather than fitted (too few turns to fit one: see :data:`MIN_TEMPERATURE_TURNS`).
    ``top_k``: the router's (see :func:`choose_top_k`), for the confidences the ECE is measured on; the temperature
    is fitted on the softmax over every answer (over the k best, a right answer outside them has probability 0).

    ``keep``: the model's own ``none_bias`` and ``none_bias_active``, kept for a kind of turn (nothing active, a
    task active) whose turns cannot place "nothing fits": none with it as the right answer, or none with a task.
    Without any NONE turn of a kind, the best score for that kind is simply "never NONE", which would switch NONE
    off on every other catalogue (a fit on digressions, all with a task active,
    would say nothing about requests made with nothing active). None: fit both whatever the turns (training's own
    held-out turns have both kinds).

    Example:
        >>> import numpy as np
        >>> turns = [ScoredAnswers(np.array([0.8, 0.2]), 0, False), ScoredAnswers(np.array([0.3, 0.2]), NOTHING,
        ...          False), ScoredAnswers(np.array([0.7, 0.5, 0.1]), 1, True)]
        >>> fit = fit_calibration(turns, scale=20.0)
        >>> 0.3 < fit["none_bias"] <= 0.8, fit["accuracy"]
        (True, 0.6666666666666666)
        >>> fit = fit_calibration(turns, scale=20.0, keep={"none_bias": 0.4, "none_bias_active": 0.45})
        >>> fit["kept"], fit["none_bias_active"]  # no NONE turn with a task active: the model's own score stays
        (['none_bias_active'], 0.45)
    """
    idle = [t for t in turns if not t.active]
    active = [t for t in turns if t.active]
    own = dict(keep or {})
    kept = [key for key, side in _SIDES.items() if key in own and not _can_place_none(idle, active, side)]
    if "none_bias" in kept:
        none_bias, idle_accuracy = own["none_bias"], _accuracy_at(idle, own["none_bias"])
    else:
        none_bias, idle_accuracy = best_bias(idle)
    if "none_bias_active" in kept:
        none_bias_active, active_accuracy = own["none_bias_active"], _accuracy_at(active, own["none_bias_active"])
    else:
        none_bias_active, active_accuracy = best_bias(active) if active else (none_bias, float("nan"))

    def bias_of(turn: ScoredAnswers) -> float:
        return none_bias_active if turn.active else none_bias

    def nll(temperature: float) -> float:
        return -float(
            np.mean([np.log(probabilities(t, bias_of(t), scale, temperature)[gold_index(t)] + 1e-12) for t in turns])
        )

    if temperature is None:
        losses = [nll(float(t)) for t in _TEMPERATURES]
        temperature = float(_TEMPERATURES[int(np.argmin(losses))])
    biases = {"none_bias": none_bias, "none_bias_active": none_bias_active}
    calibrated, correct = confidences(turns, **biases, scale=scale, temperature=temperature, top_k=top_k)
    uncalibrated, _ = confidences(turns, **biases, scale=scale, temperature=1.0, top_k=top_k)
    return {
        "none_bias": none_bias,
        "none_bias_active": none_bias_active,
        "temperature": round(temperature, 4),
        "turns": len(turns),
        "nothing_fits_turns": sum(t.gold == NOTHING for t in turns),
        # each NONE score's evidence: its kind of turn's turns with "nothing fits" as the answer
        "none_turns": {key: sum(t.gold == NOTHING and t.active == side for t in turns) for key, side in _SIDES.items()},
        "accuracy": float(np.mean(correct)),
        "accuracy_no_task_active": idle_accuracy,
        "accuracy_task_active": active_accuracy,
        "ece": expected_calibration_error(calibrated, correct),
        "ece_at_temperature_1": expected_calibration_error(uncalibrated, correct),
        "kept": kept,
        # the scores within one standard error of each fitted one's accuracy (see near_best_biases)
        "near_best": {
            key: near_best_biases(kind)
            for key, kind in (("none_bias", idle), ("none_bias_active", active))
            if key not in kept and kind
        },
    }


_SIDES = {"none_bias": False, "none_bias_active": True}  # the NONE score of each kind of turn: a task active?


def _can_place_none(idle: Sequence[ScoredAnswers], active: Sequence[ScoredAnswers], side: bool) -> bool:
    kind = active if side else idle
    nothing = sum(t.gold == NOTHING for t in kind)
    return 0 < nothing < len(kind)  # both answers among its turns: a NONE score can sit between them


def _accuracy(turns: Sequence[ScoredAnswers], biases: np.ndarray) -> np.ndarray:
    """Turn accuracy at each "nothing fits" score of ``biases``: NONE above the best task, else the best task."""
    top = np.array([t.similarities.max() for t in turns])
    right_if_answered = np.array([t.gold != NOTHING and int(t.similarities.argmax()) == t.gold for t in turns])
    nothing = np.array([t.gold == NOTHING for t in turns])
    says_none = biases[:, None] > top[None, :]
    return np.where(says_none, nothing[None, :], right_if_answered[None, :]).mean(axis=1)


def _accuracy_at(turns: Sequence[ScoredAnswers], bias: float) -> float:
    return float(_accuracy(turns, np.array([bias]))[0]) if turns else float("nan")


TOP_K_GRID = (2, 3, 4, 5, 7, 10, 20, None)  # None: the softmax over every answer


def choose_top_k(
    turn_sets: Mapping[str, Sequence[ScoredAnswers]],
    *,
    none_bias: float,
    none_bias_active: float,
    scale: float,
    temperature: float,
) -> dict[str, Any]:
    """The ``top_k`` of :data:`TOP_K_GRID` with the lowest mean ECE over ``turn_sets`` (e.g. the held-out turns
    and the held-out catalogues of 100+ tasks), the calibration's other values fixed; on a tie the larger k.

    Example:
        >>> import numpy as np
        >>> far = np.array([0.9, *[0.1] * 40])  # one near task, forty far ones: right, with an under-confident p
        >>> turns = [ScoredAnswers(far, 0, False)] * 9 + [ScoredAnswers(far[::-1].copy(), 0, False)]
        >>> fit = choose_top_k({"held out": turns}, none_bias=0.0, none_bias_active=0.0, scale=3.0, temperature=1.0)
        >>> fit["top_k"], fit["ece"]["all"]["held out"] > fit["ece"]["2"]["held out"]
        (2, True)
    """
    table: dict[str, dict[str, float]] = {}
    means = []
    for top_k in TOP_K_GRID:
        row = {}
        for name, turns in turn_sets.items():
            row[name] = expected_calibration_error(
                *confidences(
                    turns,
                    none_bias=none_bias,
                    none_bias_active=none_bias_active,
                    scale=scale,
                    temperature=temperature,
                    top_k=top_k,
                )
            )
        table["all" if top_k is None else str(top_k)] = row
        means.append(float(np.mean(list(row.values()))))
    best = min(range(len(TOP_K_GRID)), key=lambda i: (round(means[i], 6), -(TOP_K_GRID[i] or 10**9)))
    return {"top_k": TOP_K_GRID[best], "ece": table, "mean_ece": dict(zip(table, means, strict=True))}


FAMILIES_FILE = Path(__file__).resolve().parent / "data" / "task_families.txt"
EXAMPLES_IN_DESCRIPTION = 2  # as intent catalogues often do (CLINC150 style): the rest of the requests are turns
NONE_SHARE = 0.25  # of the requests asked with their whole family (or SGD domain) removed: nothing fits


def large_catalogue_records(
    held_out: Sequence[ConversationRecord], *, seed: int, path: Path = FAMILIES_FILE
) -> list[ConversationRecord]:
    """One-turn records over one catalogue of every task family of ``path`` and every task of ``held_out``: each
    family request (once with the families described by a sentence, once by a sentence, their domain and two
    example requests, which are then not asked) and each held-out conversation's first request. A quarter of them
    are asked with their family's or domain's tasks removed (gold: nothing fits).

    Example:
        >>> records = large_catalogue_records([], seed=0)
        >>> len(records[0].tasks) >= 100, len(records) > 1000
        (True, True)
    """
    rng = random.Random(seed)
    families = written_topics(path)
    sgd_tasks: dict[str, dict[str, Any]] = {}
    for record in held_out:
        for task in record.tasks:
            sgd_tasks.setdefault(str(task["name"]), task)
    rows = []
    for with_examples in (False, True):
        described = {
            name: {
                "name": name,
                "description": example_style_description(
                    {"name": name, "description": description}, requests[:EXAMPLES_IN_DESCRIPTION]
                )
                if with_examples
                else description,
            }
            for name, (description, requests) in families.items()
        }
        catalogue = [*described.values(), *sgd_tasks.values()]
        skip = EXAMPLES_IN_DESCRIPTION if with_examples else 0
        asked: list[tuple[str, str]] = [
            (text, name) for name, (_, requests) in families.items() for text in requests[skip:]
        ]
        if not with_examples:  # a conversation that starts no task (NONE alone) has no first request to ask
            asked += [request for record in held_out if (request := _first_request(record)) is not None]
        rows += [
            _row(f"large-{int(with_examples)}-{i}", text, task, catalogue, rng) for i, (text, task) in enumerate(asked)
        ]
    return parse_records(rows)


def _first_request(record: ConversationRecord) -> tuple[str, str] | None:
    first = next((label for label in record.labels if label.event == "START"), None)
    return None if first is None else (record.turns[first.turn_index].text, first.task)


def _row(row_id: str, text: str, task: str, catalogue: Sequence[dict[str, Any]], rng: random.Random) -> dict[str, Any]:
    if rng.random() < NONE_SHARE:
        domain = domain_of(task)
        tasks = [t for t in catalogue if domain_of(str(t["name"])) != domain]
        label = {"turn_index": 0, "task": NONE_LABEL, "event": "NONE"}
    else:
        tasks = list(catalogue)
        label = {"turn_index": 0, "task": task, "event": "START"}
    return {"id": row_id, "tasks": tasks, "turns": [{"role": "user", "text": text}], "labels": [label]}
