"""Routing evaluation: benchmark loading, turn-by-turn replay, metrics, reports and LangSmith examples.

The LangSmith names (:func:`evaluate_turns`, :func:`to_examples`) are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from task_router.evaluation._dataset import (
    ConversationRecord,
    DatasetError,
    Label,
    Turn,
    load_dataset,
    parse_records,
)
from task_router.evaluation._metrics import TurnResult, compute_metrics
from task_router.evaluation._replay import STATES, EvalRun, State, TurnPrediction, evaluate_router, replay
from task_router.evaluation._report import build_metrics, compare_table, load_metrics, summary_table, write_run

__all__ = [
    "STATES",
    "ConversationRecord",
    "DatasetError",
    "EvalRun",
    "Label",
    "State",
    "Turn",
    "TurnPrediction",
    "TurnResult",
    "build_metrics",
    "compare_table",
    "compute_metrics",
    "evaluate_router",
    "evaluate_turns",
    "load_dataset",
    "load_metrics",
    "parse_records",
    "replay",
    "summary_table",
    "to_examples",
    "write_run",
]

_LAZY = {"evaluate_turns": "_langsmith_run", "to_examples": "_langsmith_run"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'task_router.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"task_router.evaluation.{module}"), name)
