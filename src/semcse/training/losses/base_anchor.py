"""A penalty that keeps the trained model's embeddings near the base model's: forgetting less of what it knew."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from semcse.training.losses._batch import embed_triplets


class BaseAnchorLoss(nn.Module):
    """Wraps a SemCSE loss and adds ``weight * mean ||f(x) - f_base(x)||^2`` over every text of the batch.

    ``f_base`` is a frozen copy of the model taken when the loss is built (before training). It runs
    in the model's mode with the same random state, so in training both see the same dropout masks
    and the penalty is exactly 0 until the weights move (otherwise dropout noise alone would make it
    about 0.2 on a unit-norm model, ten times the triplet loss). The penalty is a trust region in
    embedding space: training may move a text only as far as its gain on the wrapped objective pays
    for (function-space regularisation, as in learning without forgetting, Li & Hoiem 2016).
    It costs one extra forward pass without gradients per batch and a second copy of the weights.
    Expects what the wrapped loss expects (it must offer ``compute_loss_from_embeddings``);
    returns the wrapped loss's parts plus ``"base_anchor"``.
    """

    def __init__(self, loss: nn.Module, weight: float, base_model: nn.Module | None = None) -> None:
        super().__init__()
        if weight <= 0:
            raise ValueError(f"weight must be > 0; got {weight}")
        self.loss = loss
        self.model = loss.model
        self.weight = weight
        base = base_model if base_model is not None else copy.deepcopy(loss.model)
        base.requires_grad_(False)
        self.base_model = base

    @property
    def health(self):
        return self.loss.health

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None = None) -> dict[str, Tensor]:
        features = list(sentence_features)
        device = next(self.model.parameters()).device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # replay the model's dropout masks in the base (below)
            embeddings = embed_triplets(self.model, features)
        parts = self.loss.compute_loss_from_embeddings(embeddings, labels)
        self.base_model.train(self.model.training)
        with torch.no_grad():
            base = embed_triplets(self.base_model, features)
        drift = torch.cat(embeddings) - torch.cat(base)
        return parts | {"base_anchor": self.weight * drift.pow(2).sum(dim=-1).mean()}

    def get_config_dict(self) -> dict[str, Any]:
        return self.loss.get_config_dict() | {"base_anchor": self.weight}

    @property
    def citation(self) -> str:
        return self.loss.citation
