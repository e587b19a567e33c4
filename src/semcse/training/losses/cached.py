"""GradCache around a SemCSE loss: large batches (every other text an in-batch negative) in small memory."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from sentence_transformers.base.losses.gradcache import CachedLossMixin


class CachedSemCSELoss(CachedLossMixin, nn.Module):
    """Wraps :class:`SemCSETripletLoss` or :class:`SemCSEInfoNCELoss` with gradient caching (Gao et al., 2021).

    The batch is embedded ``mini_batch_size`` texts at a time without a graph, the wrapped loss is
    computed over the whole batch and differentiated up to the embeddings, and each mini-batch is
    embedded again with its graph to carry those cached gradients into the model (the mechanism of
    sentence-transformers' CachedMultipleNegativesRankingLoss). The gradients equal the uncached
    loss's; only one mini-batch of activations is alive at a time, so a batch of 256+ triplets with
    in-batch negatives fits in CPU memory. Expects what the wrapped loss expects; returns its total
    (the parts summed); the health statistics stay in the wrapped loss (``self.health``).
    """

    def __init__(self, loss: nn.Module, mini_batch_size: int = 32) -> None:
        super().__init__()
        if mini_batch_size < 1:
            raise ValueError(f"mini_batch_size must be >= 1; got {mini_batch_size}")
        self.loss = loss
        self.model = loss.model
        self.mini_batch_size = mini_batch_size

    @property
    def health(self):
        return self.loss.health

    def calculate_loss(self, reps: list[list[Tensor]], labels: Tensor | None = None, *, with_backward: bool = False) -> Tensor:
        parts = self.loss.compute_loss_from_embeddings([torch.cat(column) for column in reps], labels)
        total = sum(parts.values())
        if with_backward:
            total.backward()
            total = total.detach()
        return total

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> Tensor:
        features = list(sentence_features)
        if len(features) != 3:
            raise ValueError(f"SemCSE losses expect (anchor, positive, negative) columns; got {len(features)} column(s)")
        return self.forward_cached(features, labels)

    def get_config_dict(self) -> dict[str, Any]:
        return self.loss.get_config_dict() | {"mini_batch_size": self.mini_batch_size}

    @property
    def citation(self) -> str:
        return self.loss.citation + """
@inproceedings{gao2021scaling,
    title={Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup},
    author={Luyu Gao and Yunyi Zhang and Jiawei Han and Jamie Callan},
    booktitle={Proceedings of the 6th Workshop on Representation Learning for NLP},
    year={2021}
}
"""
