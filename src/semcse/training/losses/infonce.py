"""InfoNCE (multiple-negatives ranking) over a distance: the SemCSE cosine variant."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcse import SEMCSE_CITATION
from semcse.similarity import CosineDistance
from semcse.training.health import HealthStats
from semcse.training.losses._batch import embed_triplets, in_batch_negative_mask, l2_term


class SemCSEInfoNCELoss(nn.Module):
    """Cross-entropy over logits ``-scale * d(a, c)``: the positive must be the closest candidate.

    Expects (anchor, positive, negative) columns and, optionally, a ``label`` column of rows
    ``[paper, negative_paper, kind]``. Candidates are each anchor's own positive and negative
    (same-kind scheme) or, with ``in_batch_negatives``, all positives and negatives of the batch
    except those from the anchor's own paper. With cosine distance and in-batch negatives this is
    sentence-transformers' MultipleNegativesRankingLoss. Returns ``{"infonce": ...}`` (plus ``"l2"``
    when ``l2_weight`` > 0) and records the health statistics in ``self.health``.
    """

    def __init__(self, model: nn.Module, distance: Any = None, scale: float = 20.0, in_batch_negatives: bool = True,
                 l2_weight: float = 0.0) -> None:
        super().__init__()
        self.model = model
        self.distance = distance or CosineDistance()
        self.scale = scale
        self.in_batch_negatives = in_batch_negatives
        self.l2_weight = l2_weight
        self.health = HealthStats()

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> dict[str, Tensor]:
        return self.compute_loss_from_embeddings(embed_triplets(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> dict[str, Tensor]:
        anchor, positive, negative = (e.float() for e in embeddings)
        batch = anchor.shape[0]
        d_ap = self.distance.paired(anchor, positive)
        d_an = self.distance.paired(anchor, negative)
        if self.in_batch_negatives:
            distances = self.distance.pairwise(anchor, torch.cat([positive, negative]))
            valid = in_batch_negative_mask(labels, batch, anchor.device)
            target = torch.arange(batch, device=anchor.device)
            own_positive = torch.zeros_like(valid)
            own_positive[target, target] = True
            logits = (-self.scale * distances).masked_fill(~(valid | own_positive), float("-inf"))
            violating = ((distances <= d_ap[:, None]) & valid).any(dim=1)
        else:
            logits = -self.scale * torch.stack([d_ap, d_an], dim=1)
            target = torch.zeros(batch, dtype=torch.long, device=anchor.device)
            violating = d_an <= d_ap
        everything = [anchor, positive, negative]
        self.health.add(d_ap, d_an, violating, torch.cat(everything))
        out = {"infonce": F.cross_entropy(logits, target)}
        if self.l2_weight > 0:
            out["l2"] = self.l2_weight * l2_term(everything)
        return out

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance": self.distance.name, "scale": self.scale, "l2_weight": self.l2_weight,
                "negatives": "batch-all" if self.in_batch_negatives else "same-kind"}

    @property
    def citation(self) -> str:
        return SEMCSE_CITATION
