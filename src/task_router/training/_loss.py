"""The transformers Trainer with the loss computed only where a decision token is predicted."""

from __future__ import annotations

from typing import Any

from transformers import Trainer

from task_router.training._sequences import IGNORE_INDEX


class DecisionTrainer(Trainer):
    """A ``Trainer`` whose model computes logits only at the positions that predict a labelled (decision) token.

    The output layer (576 x 49k for SmolLM2) then runs on a few percent of the tokens instead of all of them;
    the loss is the same token-level cross-entropy the model would compute, summed and divided by the number of
    labelled tokens in the whole accumulated batch (``num_items_in_batch``), i.e. correct under gradient
    accumulation.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loss_is_scaled_for_ga = True

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        import torch
        import torch.nn.functional as F

        inputs = dict(inputs)
        labels = inputs.pop("labels")
        targets = labels[:, 1:]
        keep = (targets != IGNORE_INDEX).any(dim=0).nonzero().squeeze(-1)
        outputs = model(**inputs, logits_to_keep=keep)
        logits = outputs.logits.float()
        gold = targets[:, keep]
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), gold.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"
        )
        if num_items_in_batch is not None:
            loss = loss / torch.as_tensor(num_items_in_batch, device=loss.device).clamp(min=1)
        else:
            loss = loss / (gold != IGNORE_INDEX).sum().clamp(min=1) / self.current_gradient_accumulation_steps
        return (loss, outputs) if return_outputs else loss
