"""Euclidean (or any distance) triplet margin loss with L2 regularisation of the embeddings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from semcse import SEMCSE_CITATION
from semcse.similarity import EuclideanDistance
from semcse.training.health import HealthStats
from semcse.training.losses._batch import embed_triplets, in_batch_negative_mask, l2_term


class SemCSETripletLoss(nn.Module):
    """SemCSE's objective: ``mean relu(d(a,p) - d(a,n) + margin) + l2_weight * mean ||e||^2``.

    Expects (anchor, positive, negative) columns and, optionally, a ``label`` column of rows
    ``[paper, negative_paper, kind]``. With ``in_batch_negatives`` every other positive and negative
    in the batch (not from the anchor's own paper) is a negative too, and the hinge is averaged over
    all those triplets. Returns ``{"triplet": ..., "l2": ...}`` (sentence-transformers sums and logs
    the parts); records d(a,p), d(a,n), the violating share and the norm in ``self.health``.
    """

    def __init__(self, model: nn.Module, distance: Any = None, margin: float = 0.2, l2_weight: float = 1e-3,
                 in_batch_negatives: bool = False) -> None:
        super().__init__()
        self.model = model
        self.distance = distance or EuclideanDistance()
        self.margin = margin
        self.l2_weight = l2_weight
        self.in_batch_negatives = in_batch_negatives
        self.health = HealthStats()

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> dict[str, Tensor]:
        return self.compute_loss_from_embeddings(embed_triplets(self.model, sentence_features), labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> dict[str, Tensor]:
        anchor, positive, negative = (e.float() for e in embeddings)
        d_ap = self.distance.paired(anchor, positive)
        d_an = self.distance.paired(anchor, negative)
        if self.in_batch_negatives:
            batch = anchor.shape[0]
            candidates = self.distance.pairwise(anchor, torch.cat([positive, negative]))
            valid = in_batch_negative_mask(labels, batch, anchor.device)
            hinge = d_ap[:, None] - candidates + self.margin
            triplet = (F.relu(hinge) * valid).sum() / valid.sum().clamp(min=1)
            violating = (hinge > 0)[valid]
        else:
            hinge = d_ap - d_an + self.margin
            triplet = F.relu(hinge).mean()
            violating = hinge > 0
        everything = [anchor, positive, negative]
        self.health.add(d_ap, d_an, violating, torch.cat(everything))
        return {"triplet": triplet, "l2": self.l2_weight * l2_term(everything)}

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance": self.distance.name, "margin": self.margin, "l2_weight": self.l2_weight,
                "negatives": "batch-all" if self.in_batch_negatives else "same-kind"}

    @property
    def citation(self) -> str:
        return SEMCSE_CITATION
