"""Benchmark conversations as LangSmith examples, evaluated with ``langsmith.evaluate`` offline or uploaded.

A LangSmith target sees one example, i.e. one user turn, so this path always routes with the gold active task
(``state="gold"``). The evaluators are those of ``task_router.evaluators``.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from langsmith import Client, evaluate
from langsmith.schemas import Example

from task_router._catalog import TaskCatalog
from task_router.evaluation._dataset import ConversationRecord
from task_router.evaluation._replay import TurnPrediction, WarmCatalogs, measured_router
from task_router.routers._base import Router

# Nothing listens on port 9 (discard) of the loopback; with info={} the client never asks the API anything.
OFFLINE_API_URL = "http://127.0.0.1:9"
_NAMESPACE = uuid.UUID("5b0c6a5e-8f51-4a53-9a43-7d3a3f0f4e11")
_TRACING_VARIABLES = ("LANGSMITH_TRACING", "LANGSMITH_TRACING_V2", "LANGCHAIN_TRACING", "LANGCHAIN_TRACING_V2")


class LangSmithConfigError(ValueError):
    """Uploading to LangSmith was asked for without a way to reach it."""


def example_id(dataset_name: str, record_id: str, turn_index: int) -> uuid.UUID:
    """Stable example ids: re-uploading a dataset names the same turns the same way."""
    return uuid.uuid5(_NAMESPACE, f"{dataset_name}/{record_id}#{turn_index}")


def to_examples(
    records: Sequence[ConversationRecord],
    *,
    dataset_name: str = "task-router-eval",
    dataset_id: uuid.UUID | None = None,
) -> list[Example]:
    """One example per labelled user turn.

    inputs: ``{conversation_id, messages (up to and including the turn), catalog, active_task (gold)}``;
    outputs: the gold ``{event, task}``.

    Example:
        >>> from task_router.evaluation import parse_records
        >>> records = parse_records([{"id": "c1", "tasks": [{"name": "recap", "description": "Recap a meeting."}],
        ...     "turns": [{"role": "user", "text": "Recap my call"}],
        ...     "labels": [{"turn_index": 0, "task": "recap", "event": "START"}]}])
        >>> to_examples(records)[0].outputs
        {'event': 'START', 'task': 'recap'}
    """
    examples = []
    for record in records:
        flags_of = zip(record.gold_digressions(), record.gold_after_digressions(), strict=True)
        for label, active, (digression, after_digression) in zip(
            record.labels, record.gold_active_tasks(), flags_of, strict=True
        ):
            split = record.service_split(label.task)
            flags = {"digression": True} if digression else {}
            if after_digression:
                flags["after_digression"] = True
            examples.append(
                Example(
                    id=example_id(dataset_name, record.id, label.turn_index),
                    dataset_id=dataset_id or uuid.UUID(int=0),
                    inputs={
                        "conversation_id": record.id,
                        "messages": record.messages_until(label.turn_index),
                        "catalog": record.tasks,
                        "active_task": active,
                    },
                    outputs={
                        "event": label.event,
                        "task": label.task,
                        **({"split": split} if split else {}),
                        **flags,
                    },
                    metadata={"conversation_id": record.id, "turn_index": label.turn_index, "source": record.source},
                )
            )
    return examples


def offline_client() -> Client:
    """A LangSmith client that never reaches the network (no /info call, nothing traced)."""
    return Client(api_url=OFFLINE_API_URL, api_key="offline", info={}, tracing_sampling_rate=0.0)


@contextmanager
def tracing_variables_off() -> Iterator[None]:
    """Hide LangSmith/LangChain tracing variables so that no tracer can post while evaluating offline."""
    saved = {name: os.environ.pop(name) for name in _TRACING_VARIABLES if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def routing_target(router: Router) -> Any:
    """A LangSmith target: one example's inputs -> the RouteDecision as a dict (one catalogue per conversation)."""
    catalogs: dict[str, TaskCatalog] = {}
    warmed = WarmCatalogs(router)  # a decision's latency is not the router's start-up on the catalogue
    measured = measured_router(router)

    def route_turn(inputs: dict[str, Any]) -> dict[str, Any]:
        conversation = str(inputs.get("conversation_id", ""))
        if conversation not in catalogs:
            catalogs[conversation] = warmed.of(inputs["catalog"])
        decision = measured.invoke(
            {
                "messages": inputs["messages"],
                "active_task": inputs.get("active_task"),
                "catalog": catalogs[conversation],
            },
            {"configurable": {"thread_id": f"langsmith-{conversation}"}},
        )
        return decision.model_dump()

    return route_turn


def evaluate_turns(
    records: Sequence[ConversationRecord],
    router: Router,
    *,
    upload: bool = False,
    dataset_name: str = "task-router-eval",
    experiment_prefix: str | None = None,
) -> tuple[list[TurnPrediction], dict[str, Any]]:
    """Run ``langsmith.evaluate`` over every labelled turn with the per-turn and summary evaluators.

    Returns the per-turn predictions (gold active task) and the summary evaluators' figures by key.
    ``upload=False`` makes no network call; ``upload=True`` needs ``LANGSMITH_API_KEY`` and creates (or reuses)
    the LangSmith dataset ``dataset_name``.
    """
    from task_router.evaluators import SUMMARY_EVALUATORS, TURN_EVALUATORS

    options: dict[str, Any] = {
        "evaluators": list(TURN_EVALUATORS),
        "summary_evaluators": list(SUMMARY_EVALUATORS),
        "max_concurrency": 0,  # local models compute on the CPU: one turn at a time, in order
        "experiment_prefix": experiment_prefix or f"{router.kind}-{router.model_label or 'no-model'}",
        "metadata": {"router": router.kind, "model": router.model_label, "state": "gold"},
    }
    if upload:
        client = upload_client()
        dataset_id = _upload_dataset(client, dataset_name, to_examples(records, dataset_name=dataset_name))
        examples = to_examples(records, dataset_name=dataset_name, dataset_id=dataset_id)
        results = evaluate(routing_target(router), data=examples, client=client, **options)
    else:
        examples = to_examples(records, dataset_name=dataset_name)
        with tracing_variables_off(), warnings.catch_warnings():
            # langsmith marks the offline switch (upload_results=False) as beta on every call: nothing to act on
            warnings.filterwarnings("ignore", message=".*'upload_runs' parameter is in beta")
            results = evaluate(
                routing_target(router), data=examples, client=offline_client(), upload_results=False, **options
            )
    rows = list(results)
    predictions = [_prediction(row["example"], row["run"].outputs or {}) for row in rows]
    # ExperimentResults exposes the summary evaluators' output only through this attribute.
    summary = getattr(results, "_summary_results", None) or {"results": []}
    figures = {result.key: result.score if result.score is not None else result.value for result in summary["results"]}
    return predictions, figures


def upload_client() -> Client:
    if not (os.environ.get("LANGSMITH_API_KEY") or os.environ.get("LANGCHAIN_API_KEY")):
        raise LangSmithConfigError(
            "--langsmith uploads an experiment to LangSmith and needs an API key: set LANGSMITH_API_KEY "
            "(and LANGSMITH_ENDPOINT for a self-hosted server), or drop --langsmith to evaluate offline"
        )
    return Client()


def _upload_dataset(client: Client, name: str, examples: Sequence[Example]) -> uuid.UUID:
    """Create the LangSmith dataset (or reuse it) and add the examples it does not hold yet."""
    if client.has_dataset(dataset_name=name):
        dataset = client.read_dataset(dataset_name=name)
        known = {example.id for example in client.list_examples(dataset_id=dataset.id)}
    else:
        dataset = client.create_dataset(name, description="task-router routing benchmark: one example per user turn")
        known = set()
    fresh = [
        {"id": e.id, "inputs": e.inputs, "outputs": e.outputs, "metadata": e.metadata}
        for e in examples
        if e.id not in known
    ]
    if fresh:
        client.create_examples(dataset_id=dataset.id, examples=fresh)
    return dataset.id


def _prediction(example: Example, outputs: dict[str, Any]) -> TurnPrediction:
    inputs = example.inputs
    if inputs is None:  # every example of a task-router dataset has inputs (to_examples)
        raise ValueError(f"LangSmith example {example.id} has no inputs: not a task-router routing example")
    return TurnPrediction.from_outputs(
        str(inputs.get("conversation_id", "")),
        int((example.metadata or {}).get("turn_index", len(inputs.get("messages", [])) - 1)),
        inputs.get("active_task"),
        outputs,
        example.outputs or {},
    )
