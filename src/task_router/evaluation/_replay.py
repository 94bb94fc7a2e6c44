"""Evaluation runs: replay benchmark conversations turn by turn through a router, as a user would meet it, and one
run end to end (:func:`evaluate_router`: replay or LangSmith, metrics, files)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from langchain_core.runnables import Runnable, RunnableConfig
from langsmith.run_helpers import tracing_context

from task_router._budget import call_within
from task_router._catalog import TaskCatalog
from task_router._decision import RouteDecision
from task_router.evaluation._dataset import ConversationRecord, Label
from task_router.evaluation._metrics import TurnResult
from task_router.evaluation._progress import progress as turn_progress
from task_router.evaluation._report import build_metrics, require_plotting, write_run
from task_router.routers._base import Router, underlying_router
from task_router.routers._fallbacks import make_reliable, timed
from task_router.routers._shortlist import Shortlist

State = Literal["own", "gold"]
STATES: tuple[State, ...] = ("own", "gold")


@dataclass(frozen=True)
class TurnPrediction:
    """One replayed user turn: what the router saw (active task), decided, and what the label says."""

    conversation_id: str
    turn_index: int
    active_before: str | None
    gold_event: str
    gold_task: str
    event: str
    task: str
    valid_format: bool
    latency_ms: float
    confidence: float | None = None
    fallback: str | None = None
    raw_output: str = ""
    stage: str | None = None
    split: str | None = None  # seen / unseen service of the gold task (SGD)
    gold_digression: bool = False
    digression: bool = False
    after_digression: bool = False
    margin: float | None = None
    alternatives: tuple[dict[str, Any], ...] = ()

    @property
    def result(self) -> TurnResult:
        return TurnResult(
            self.gold_event,
            self.gold_task,
            self.event,
            self.task,
            self.valid_format,
            self.latency_ms,
            self.split,
            gold_digression=self.gold_digression,
            digression=self.digression,
            after_digression=self.after_digression,
            confidence=self.confidence,
            margin=self.margin,
        )

    @classmethod
    def from_outputs(
        cls,
        conversation_id: str,
        turn_index: int,
        active_before: str | None,
        outputs: Mapping[str, Any],
        reference: Mapping[str, Any],
    ) -> TurnPrediction:
        """From a decision's outputs (a RouteDecision dump) and the label's reference outputs ({event, task, split})."""
        turn = TurnResult.from_outputs(outputs, reference)
        return cls(
            conversation_id=conversation_id,
            turn_index=turn_index,
            active_before=active_before,
            gold_event=turn.gold_event,
            gold_task=turn.gold_task,
            event=turn.event,
            task=turn.task,
            valid_format=turn.valid_format,
            latency_ms=turn.latency_ms,
            confidence=outputs.get("confidence"),
            fallback=outputs.get("fallback"),
            raw_output=str(outputs.get("raw_output", "")),
            stage=outputs.get("stage"),
            split=turn.split,
            gold_digression=turn.gold_digression,
            digression=turn.digression,
            after_digression=turn.after_digression,
            margin=turn.margin,
            alternatives=tuple(dict(a) for a in outputs.get("alternatives") or () if isinstance(a, Mapping)),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def replay(
    records: Sequence[ConversationRecord],
    router: Runnable[dict[str, Any], RouteDecision],
    *,
    state: State = "own",
    progress: bool = True,
) -> list[TurnPrediction]:
    """Route every labelled user turn of every conversation, in order, with ``router`` (a Router, or your own
    composition: its decisions are held to docs/contract.md as the graph holds them, see :func:`measured_router`).

    ``state="own"`` feeds the router its own previous decision's active task (errors carry over);
    ``state="gold"`` feeds the gold active task, measuring each turn in isolation. Tracing is switched off:
    an offline evaluation makes no network call even when LangSmith tracing variables are set.

    Example:
        >>> from task_router import make_router
        >>> from task_router.evaluation import load_dataset
        >>> predictions = replay(load_dataset("tests/fixtures/eval_small.jsonl"),
        ...                      make_router("embedding", model=None))  # doctest: +SKIP
    """
    if state not in STATES:
        raise ValueError(f"state must be 'own' or 'gold', got {state!r}")
    run_id = uuid.uuid4().hex[:8]  # thread ids unique per run: a router's per-thread cache never mixes runs
    predictions: list[TurnPrediction] = []
    total = sum(len(record.labels) for record in records)
    catalogs = WarmCatalogs(router)
    measured = measured_router(router)
    with tracing_context(enabled=False), turn_progress("routing turns", total, enabled=progress) as bar:
        for record in records:
            catalog = catalogs.of(record.tasks)
            for prediction in _replay_conversation(record, catalog, measured, state, f"eval-{run_id}-{record.id}"):
                predictions.append(prediction)
                bar.advance()
    return predictions


def label_reference(
    record: ConversationRecord,
    label: Label,
    *,
    after_digression: bool = False,
    digression: bool | None = None,
) -> dict[str, Any]:
    """What a turn's decision is scored against: the label's event and task, the task's service split, whether the
    label is a digression (``digression``, from :meth:`ConversationRecord.gold_digressions`; default: the label's
    flag) and whether it is the first turn after one."""
    return {
        "event": label.event,
        "task": label.task,
        "split": record.service_split(label.task),
        "digression": label.digression if digression is None else digression,
        "after_digression": after_digression,
    }


def measured_router(router: Runnable[dict[str, Any], RouteDecision]) -> Runnable[dict[str, Any], RouteDecision]:
    """What an evaluation runs: the router itself, no retry and no other router, but a turn whose model fails is
    scored as an invalid decision that keeps the active task (``stage`` 'keep-active') rather than ending the run.
    Any other Runnable (your own composition) is measured as it is, its decisions held to docs/contract.md as the
    graph holds them (:func:`~task_router.routers._fallbacks.timed`: a NONE keeps the active task, ``latency_ms``
    is the whole composition's)."""
    if not isinstance(router, Router):
        return timed(router)
    return make_reliable(router, retries=0, fallback=None, reject_invalid=False)


class WarmCatalogs:
    """The catalogue of each conversation, with the router warmed up on it before its first timed turn, as ``chat``
    and ``route`` warm it on theirs at start-up (:meth:`Router.warm`: load the weights, embed the catalogue's
    tasks): a decision's ``latency_ms`` is never that one-off work (docs/contract.md). Consecutive conversations
    with the same tasks (CLINC150's) share one catalogue, warmed once."""

    def __init__(self, router: Runnable[dict[str, Any], RouteDecision]) -> None:
        self.warm = getattr(underlying_router(router), "warm", None)
        self._last: tuple[list[Mapping[str, Any]], TaskCatalog] | None = None

    def of(self, tasks: Sequence[Mapping[str, Any]]) -> TaskCatalog:
        if self._last is not None and self._last[0] == list(tasks):  # the same tasks (dicts compare by content)
            return self._last[1]
        catalog = TaskCatalog.from_records([dict(task) for task in tasks])
        if callable(self.warm):  # on the decisions' thread, like every torch call, and on the snapshot that every
            # decision on this catalogue routes over (TaskCatalog.frozen): what it caches there is found by them
            call_within(self.warm, catalog.frozen(), timeout=None)
        self._last = (list(tasks), catalog)
        return catalog


def _replay_conversation(
    record: ConversationRecord,
    catalog: TaskCatalog,
    router: Runnable[dict[str, Any], RouteDecision],
    state: State,
    thread_id: str,
) -> Iterator[TurnPrediction]:
    config: RunnableConfig = {"configurable": {"thread_id": thread_id}}
    gold_active = record.gold_active_tasks()
    own_active: str | None = None
    own_off_topic: set[int] = set()  # the user turns the router answered NONE with a task active: replies marked
    prefill = getattr(underlying_router(router), "prefill", None)  # as in the graph: replies reach the cache
    flags = zip(record.gold_digressions(), record.gold_after_digressions(), strict=True)
    for label, gold_before, (digression, after_digression) in zip(record.labels, gold_active, flags, strict=True):
        active = gold_before if state == "gold" else own_active
        messages = record.messages_until(label.turn_index, off_topic=None if state == "gold" else own_off_topic)
        if callable(prefill) and label.turn_index > 0:
            call_within(prefill, {"messages": messages[:-1], "catalog": catalog}, config, timeout=None)
        decision = router.invoke({"messages": messages, "active_task": active, "catalog": catalog}, config)
        own_active = decision.active_task_after
        if decision.event == "NONE" and active is not None:  # a digression: the graph marks its reply alike
            own_off_topic.add(label.turn_index)
        reference = label_reference(record, label, after_digression=after_digression, digression=digression)
        yield TurnPrediction.from_outputs(record.id, label.turn_index, active, decision.model_dump(), reference)


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
