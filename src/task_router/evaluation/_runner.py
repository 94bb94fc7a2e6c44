"""One evaluation run end to end: replay (or LangSmith), metrics, files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from task_router.evaluation._dataset import ConversationRecord
from task_router.evaluation._replay import State, TurnPrediction, replay
from task_router.evaluation._report import build_metrics, require_plotting, write_run
from task_router.routers._base import Router
from task_router.routers._shortlist import Shortlist


@dataclass
class EvalRun:
    metrics: dict[str, Any]
    predictions: list[TurnPrediction]
    files: list[Path]


def evaluate_router(
    records: Sequence[ConversationRecord],
    router: Router,
    *,
    dataset: str = "records",
    state: State = "own",
    out_dir: Path | None = None,
    langsmith: bool = False,
    progress: bool = True,
    thresholds: str | None = None,
) -> EvalRun:
    """Evaluate a router on benchmark conversations; with ``out_dir``, write metrics.json, report.md, PNGs (the PNGs
    need matplotlib: ``pip install 'langgraph-task-router[eval]'``, checked before the replay).

    ``langsmith=True`` runs ``langsmith.evaluate`` and uploads the experiment (gold active task per turn,
    so ``state`` must be "gold"); otherwise the offline replay runs, with no network call. ``thresholds``: the file
    of fitted thresholds the router was built with, recorded in metrics.json so that the run can be reproduced.

    Example:
        >>> from task_router import make_router
        >>> from task_router.evaluation import evaluate_router, load_dataset
        >>> run = evaluate_router(load_dataset("tests/fixtures/eval_small.jsonl"),
        ...                       make_router("embedding", model=None))  # doctest: +SKIP
        >>> run.metrics["task_accuracy"]  # doctest: +SKIP
    """
    if out_dir is not None:
        require_plotting()  # fail before the replay, not after it
    if langsmith:
        if state != "gold":
            raise ValueError("LangSmith evaluates one turn per example, with the gold active task: use state='gold'")
        from task_router.evaluation._langsmith_run import evaluate_turns

        predictions, _ = evaluate_turns(records, router, upload=True, dataset_name=f"task-router {Path(dataset).name}")
    else:
        predictions = replay(records, router, state=state, progress=progress)
    decider = router.router if isinstance(router, Shortlist) else router
    reranker = getattr(decider, "reranker", None)
    metrics = build_metrics(
        [p.result for p in predictions],
        dataset=dataset,
        model=router.model_label or "none",
        router=router.kind,
        n_conversations=len(records),
        state=state,
        shortlist=router.k if isinstance(router, Shortlist) else None,
        rerank=reranker.model_label if reranker is not None else None,
        thresholds=thresholds,
    )
    files = write_run(out_dir, metrics, [p.to_dict() for p in predictions]) if out_dir is not None else []
    return EvalRun(metrics, predictions, files)
