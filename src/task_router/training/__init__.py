"""Fine-tuning for the scoring router: data (benchmark + synthetic, augmented), review, LoRA/QLoRA training.

The heavy parts (torch, peft, transformers) are imported only when training runs.
"""

from task_router.training.augment import RENAME_STYLES, AugmentConfig, augment_record, augment_records, rename_tasks
from task_router.training.config import TrainConfig
from task_router.training.sequences import PackedSequence, TreeCollator, encode_record, encode_records
from task_router.training.targets import TurnTarget, labels_from_answers, turn_targets

__all__ = [
    "RENAME_STYLES",
    "AugmentConfig",
    "PackedSequence",
    "TrainConfig",
    "TreeCollator",
    "TurnTarget",
    "augment_record",
    "augment_records",
    "encode_record",
    "encode_records",
    "labels_from_answers",
    "rename_tasks",
    "turn_targets",
]
