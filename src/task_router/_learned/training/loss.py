"""The bi-encoder's loss: a softmax over each turn's own candidates, each distinct text of a batch encoded once."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.losses.merged_forward import merge_feature_batches
from sentence_transformers.cross_encoder.losses import MultipleNegativesRankingLoss as CrossEncoderMNRL
from torch import Tensor, nn


class CatalogueRankingLoss(nn.Module):
    """Cross-entropy of the right candidate among the turn's own candidates, on scaled cosine similarities.

    Inputs are ``(query, positive, negative_1, ..., negative_n)`` rows whose negatives come from the same
    conversation's catalogue (:func:`task_router._learned.training.examples.sample_negatives`). Unlike
    :class:`~sentence_transformers.sentence_transformer.losses.MultipleNegativesRankingLoss`, other rows'
    candidates are not negatives: with a few dozen tasks per catalogue, another turn's positive is often this
    turn's positive too, or the same kind of task from another service (false negatives). The candidates of a
    batch repeat a lot (every turn of a conversation shares its catalogue), so each distinct text is embedded
    once and its embedding reused; a candidate repeated within a row counts once.

    "Nothing in the catalogue fits" (NONE) is one more candidate with no text: a constant cosine ``none_bias`` in
    every row's softmax, so the encoder learns to keep the right task above it and every task of an off-catalogue
    turn below it. A row whose ``label`` is 1 has that constant as its right answer (its ``positive`` column is
    then any text, scored as a wrong answer); 0 or no label: the ``positive`` column is right.

    Args:
        model: the bi-encoder being trained.
        scale: inverse temperature of the softmax (as ``MultipleNegativesRankingLoss``'s ``scale``).
        none_bias: the cosine at which "nothing fits" scores; None: no such candidate (every row has a task or
            "done" as its answer).
        hard_weight: weight of a second term, the logistic loss of the right answer against the row's best-scored
            wrong one (hard negatives mined online: in SGD catalogues mostly a task of the same service, "find
            trains" against "buy train tickets"); 0 leaves the softmax alone.
    """

    def __init__(
        self,
        model: SentenceTransformer,
        scale: float = 20.0,
        none_bias: float | None = None,
        hard_weight: float = 0.0,
    ) -> None:
        super().__init__()
        self.model = model
        self.scale = scale
        self.none_bias = none_bias
        self.hard_weight = hard_weight

    def forward(self, sentence_features: Iterable[dict[str, Any]], labels: Tensor | None = None) -> Tensor:
        features = list(sentence_features)
        if len(features) < 2:
            raise ValueError("CatalogueRankingLoss needs (query, positive, negative_1, ...) columns")
        queries = F.normalize(self.model(features[0])["sentence_embedding"], dim=-1)
        merged = merge_feature_batches(features[1:]) if len(features) > 2 else features[1]
        if merged is None:
            raise ValueError("the candidate columns could not be batched together: use one text model for all")
        rows, index = _distinct_rows(merged["input_ids"], merged["attention_mask"])
        candidates = F.normalize(self.model(_select(merged, rows))["sentence_embedding"], dim=-1)
        batch = queries.shape[0]
        index = index.view(len(features) - 1, batch).T  # (batch, 1 + n): which distinct text is each candidate
        scores = self.scale * torch.einsum("bd,bcd->bc", queries, candidates[index])
        repeated = (index[:, :, None] == index[:, None, :]).tril(diagonal=-1).any(dim=-1)
        scores = scores.masked_fill(repeated, float("-inf"))
        target = torch.zeros(batch, dtype=torch.long, device=scores.device)
        if self.none_bias is not None:
            scores = torch.cat([scores, scores.new_full((batch, 1), self.scale * self.none_bias)], dim=1)
            if labels is not None:
                target = torch.where(labels.to(target.device).bool(), scores.shape[1] - 1, target)
        elif labels is not None and bool(labels.bool().any()):
            raise ValueError(
                "rows labelled 'nothing fits' (label 1) need a none_bias: CatalogueRankingLoss(none_bias=...)"
            )
        loss = F.cross_entropy(scores, target)
        if self.hard_weight:
            right = scores.gather(1, target[:, None]).squeeze(1)
            wrong = scores.scatter(1, target[:, None], float("-inf")).max(dim=1).values
            loss = loss + self.hard_weight * F.softplus(wrong - right).mean()
        return loss

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "none_bias": self.none_bias, "hard_weight": self.hard_weight}


class OwnCandidatesLoss(CrossEncoderMNRL):
    """The cross-encoder's loss: a softmax over each row's own candidates ``(query, positive, negative_1, ...)``,
    with no in-batch negatives (another row's answer is often the same task, or "no task": a false negative).

    Args:
        model: the cross-encoder being trained.
        scale: inverse temperature applied to the sigmoid of the logits, as the parent loss does.
    """

    def __init__(self, model: Any, scale: float = 10.0) -> None:
        super().__init__(model, num_negatives=None, scale=scale)

    def get_in_batch_negatives(self, anchors: list[str], candidates: list[list[str]]) -> Iterator[list[str]]:
        return iter(())


def _distinct_rows(input_ids: Tensor, attention_mask: Tensor) -> tuple[list[int], Tensor]:
    """(the first row of each distinct token sequence, the distinct sequence of every row)."""
    first: dict[tuple[int, ...], int] = {}
    rows: list[int] = []
    index = []
    for row, (ids, mask) in enumerate(zip(input_ids.tolist(), attention_mask.tolist(), strict=True)):
        key = tuple(i for i, m in zip(ids, mask, strict=True) if m)
        if key not in first:
            first[key] = len(rows)
            rows.append(row)
        index.append(first[key])
    return rows, torch.tensor(index, dtype=torch.long, device=input_ids.device)


def _select(features: dict[str, Any], rows: list[int]) -> dict[str, Any]:
    """The given rows of a feature batch, trimmed to their longest sequence."""
    picked = torch.tensor(rows, dtype=torch.long, device=features["input_ids"].device)
    width = int(features["attention_mask"][picked].sum(dim=1).max())
    out: dict[str, Any] = {}
    for key, value in features.items():
        if isinstance(value, Tensor) and value.ndim >= 1 and value.shape[0] == features["input_ids"].shape[0]:
            value = value[picked]
            out[key] = value[:, :width] if value.ndim >= 2 else value
        else:
            out[key] = value
    return out
