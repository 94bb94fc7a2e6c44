"""Routing evaluation: benchmark loading, turn-by-turn replay, metrics, reports and LangSmith examples."""

from task_router.evaluation.dataset import (
    ConversationRecord,
    DatasetError,
    Label,
    Turn,
    load_dataset,
    parse_records,
)
from task_router.evaluation.metrics import TurnResult, compute_metrics
from task_router.evaluation.replay import STATES, State, TurnPrediction, replay
from task_router.evaluation.report import build_metrics, compare_table, load_metrics, summary_table, write_run
from task_router.evaluation.runner import EvalRun, evaluate_router

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
    "load_dataset",
    "load_metrics",
    "parse_records",
    "replay",
    "summary_table",
    "write_run",
]
