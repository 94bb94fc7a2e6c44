"""Does the learned router rank clinc_dev's tasks better when each example request of a task is its own vector (as
semantic-router scores a route by its utterances)? Prints one table; nothing is fitted.

    python benchmarks/task_example_vectors.py             # clinc_dev, 15 s
    python benchmarks/task_example_vectors.py --held-out  # also held-out sgd_train, ~8 min on a 2-core AVX2 CPU

Each clinc_dev task reads "Name (domain). Examples: "..."; "..."". The shipped router embeds that whole text once
(``whole``). The variants also embed each example alone and score a task by the best example (``examples``), by
the better of the whole text and its best example (``max``), or by their mean (``mean``); ``head`` is the text
without its examples. Columns: in-scope top-1 (the best task right, "nothing fits" set aside), then task accuracy
and None F1 with the model's own NONE score, then the best of both over a grid of NONE scores fitted on clinc_dev
itself (an oracle, a bound on what the variant could give, never a shipped value).

``--held-out`` first checks the one variant that gains on clinc_dev (``mean``) where a choice may be made: the
held-out sgd_train turns the shipped model was calibrated on (their catalogues list examples in ``Task.examples``
or in CLINC's style, in about half of the turns), each variant with its NONE scores refitted there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from task_router._catalog import NONE_LABEL, Task
from task_router._learned.model import BUILTIN_DIR, LearnedModel
from task_router._learned.router import LearnedRouter
from task_router._learned.texts import DONE_TEXT, candidate_text
from task_router._learned.training.calibrate import fit_calibration, score_held_out
from task_router._learned.training.config import LearnedTrainConfig
from task_router._learned.training.train import calibration_records
from task_router.evaluation import load_dataset
from task_router.evaluation._metrics import prf

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "clinc_dev.jsonl.gz"
_EXAMPLES = " Examples: "


def _examples(description: str) -> list[str]:
    _, _, tail = description.partition(_EXAMPLES)
    return [example.strip().strip('"') for example in tail.split('"; "')] if tail else []


class _MeanOfExamples(LearnedRouter):
    """The learned router with a task that has examples (its field, or CLINC style in its description) scored as
    the mean of its whole text's cosine and its best example's."""

    def __init__(self) -> None:
        super().__init__()
        self._examples: dict[tuple[str, ...], np.ndarray] = {}

    def _ranked_all(self, routing, vectors=None):  # type: ignore[no-untyped-def]
        names, texts, rows = self.task_matrix(routing.catalog)
        queries = self.queries(routing)
        vectors = np.atleast_2d(self.model.embed(queries) if vectors is None else vectors)
        similarities = (rows @ vectors.T).max(axis=1)
        for i, task in enumerate(routing.catalog.tasks):
            examples = list(dict.fromkeys([*task.examples, *_examples(task.description)]))
            if examples:
                key = tuple(examples)
                if key not in self._examples:
                    self._examples[key] = self.model.embed(examples)
                similarities[i] = (similarities[i] + (self._examples[key] @ vectors.T).max()) / 2
        similarities = np.append(similarities, (self._done @ vectors.T).max())
        order = np.argsort(-similarities, kind="stable")
        every_name, every_text = [*names, None], [*texts, DONE_TEXT]
        return queries[0], [every_name[i] for i in order], [every_text[i] for i in order], similarities[order]


def held_out_check(data: Path) -> None:
    config = LearnedTrainConfig.of_model(BUILTIN_DIR, data=[str(data / "sgd_train.jsonl.gz")], out="-")
    records = calibration_records(config)
    print(f"held-out sgd_train: {len(records)} records; NONE scores and temperature refitted per variant")
    print("| task vectors | turns | accuracy | ECE | none_bias / active |")
    print("|---|---|---|---|---|")
    for name, router in (("whole (shipped)", LearnedRouter()), ("mean(whole, examples)", _MeanOfExamples())):
        turns = score_held_out(router, records)
        fit = fit_calibration(turns, scale=router.calibration.bi_scale)
        print(
            f"| {name} | {fit['turns']} | {fit['accuracy']:.3f} | {fit['ece']:.3f} | "
            f"{fit['none_bias']:.3f} / {fit['none_bias_active']:.3f} |"
        )


def _scores(model: LearnedModel, tasks: list[dict], queries: np.ndarray) -> dict[str, np.ndarray]:
    whole = model.embed([candidate_text(Task(name=t["name"], description=t["description"])) for t in tasks])
    heads = [candidate_text(Task(name=t["name"], description=t["description"].partition(_EXAMPLES)[0])) for t in tasks]
    head = model.embed(heads)
    best_example = np.stack([(queries @ model.embed(_examples(t["description"])).T).max(axis=1) for t in tasks], axis=1)
    by_whole = queries @ whole.T
    return {
        "whole (shipped)": by_whole,
        "head": queries @ head.T,
        "examples": best_example,
        "max(whole, examples)": np.maximum(by_whole, best_example),
        "mean(whole, examples)": (by_whole + best_example) / 2,
    }


def _row(scores: np.ndarray, names: list[str], gold: list[str], none_bias: float) -> tuple[float, ...]:
    top = scores.argmax(axis=1)
    best = scores.max(axis=1)
    in_scope = [i for i, g in enumerate(gold) if g != NONE_LABEL]
    top1 = float(np.mean([names[top[i]] == gold[i] for i in in_scope]))

    def at(bias: float) -> tuple[float, float]:
        predicted = [names[top[i]] if best[i] > bias else NONE_LABEL for i in range(len(gold))]
        accuracy = float(np.mean([p == g for p, g in zip(predicted, gold, strict=True)]))
        none = prf([g == NONE_LABEL for g in gold], [p == NONE_LABEL for p in predicted])
        return accuracy, none["f1"]

    shipped = at(none_bias)
    oracle = max(at(float(b)) for b in np.arange(0.2, 0.6, 0.005))
    return (top1, *shipped, *oracle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--held-out", action="store_true", help="first check the variants on held-out sgd_train")
    args = parser.parse_args()
    if args.held_out:
        held_out_check(args.dataset.parent)
    records = load_dataset(args.dataset)
    tasks = records[0].tasks
    if any(record.tasks != tasks for record in records):
        raise SystemExit("every record must share one catalogue (clinc_dev's 150 tasks)")
    model = LearnedModel.load(None)
    queries = model.embed([record.turns[0].text for record in records])
    gold = [record.labels[0].task for record in records]
    names = [t["name"] for t in tasks]
    print(f"{args.dataset.name}: {len(records)} turns, {len(tasks)} tasks; model learned:builtin")
    print("| task vectors | in-scope top-1 | task acc. | None F1 | oracle task acc. | oracle None F1 |")
    print("|---|---|---|---|---|---|")
    for name, scores in _scores(model, tasks, queries).items():
        cells = " | ".join(f"{value:.3f}" for value in _row(scores, names, gold, model.config.none_bias))
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
