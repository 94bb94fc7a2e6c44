"""Fine-tuning: data (benchmark + synthetic, augmented), review, LoRA/QLoRA training of the scoring router, and
the trained encoders of the ``learned`` router (re-exported from :mod:`task_router._learned.training`).

Names are imported on first use, so that the pure data parts (augmentation, targets) do not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> its module under task_router.training, or a full module name (the learned router's training lives with
# the router, in task_router._learned.training)
_EXPORTS = {
    "RENAME_STYLES": "_augment",
    "AugmentConfig": "_augment",
    "augment_record": "_augment",
    "augment_records": "_augment",
    "rename_tasks": "_augment",
    "RouterModelConfig": "_trainer",
    "TrainConfig": "_trainer",
    "PackedSequence": "_sequences",
    "TreeCollator": "_sequences",
    "encode_record": "_sequences",
    "encode_records": "_sequences",
    "TurnTarget": "_sequences",
    "labels_from_answers": "_sequences",
    "turn_targets": "_sequences",
    "train": "_trainer",
    "LearnedTrainConfig": "task_router._learned.training.config",
    "train_learned": "task_router._learned.training.train",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'task_router.training' has no attribute {name!r}")
    return getattr(importlib.import_module(module if "." in module else f"task_router.training.{module}"), name)
