"""Fine-tuning: data (benchmark + synthetic, augmented), review, LoRA/QLoRA training of the scoring router, and
the trained encoders of the ``learned`` router (:mod:`task_router.training._learned`).

Names are imported on first use, so that the pure data parts (augmentation, targets) do not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RENAME_STYLES": "_augment",
    "AugmentConfig": "_augment",
    "augment_record": "_augment",
    "augment_records": "_augment",
    "rename_tasks": "_augment",
    "RouterModelConfig": "_config",
    "TrainConfig": "_config",
    "PackedSequence": "_sequences",
    "TreeCollator": "_sequences",
    "encode_record": "_sequences",
    "encode_records": "_sequences",
    "TurnTarget": "_targets",
    "labels_from_answers": "_targets",
    "turn_targets": "_targets",
    "train": "_trainer",
    "LearnedTrainConfig": "_learned.config",
    "train_learned": "_learned.train",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'task_router.training' has no attribute {name!r}")
    return getattr(importlib.import_module(f"task_router.training.{module}"), name)
