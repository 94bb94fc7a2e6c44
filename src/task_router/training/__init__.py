"""Fine-tuning: data (benchmark + synthetic, augmented), review, LoRA/QLoRA training of the scoring router, and
the trained encoders of the ``learned`` router (:mod:`task_router.training.learned`).

Names are imported on first use, so that the pure data parts (augmentation, targets) do not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "RENAME_STYLES": "augment",
    "AugmentConfig": "augment",
    "augment_record": "augment",
    "augment_records": "augment",
    "rename_tasks": "augment",
    "TrainConfig": "config",
    "PackedSequence": "sequences",
    "TreeCollator": "sequences",
    "encode_record": "sequences",
    "encode_records": "sequences",
    "TurnTarget": "targets",
    "labels_from_answers": "targets",
    "turn_targets": "targets",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'task_router.training' has no attribute {name!r}")
    return getattr(importlib.import_module(f"task_router.training.{module}"), name)
