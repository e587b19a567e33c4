"""Shared pieces of the SemCSE losses: embedding the three columns and the in-batch negative mask."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from sentence_transformers.base.losses.merged_forward import embed_columns


def embed_triplets(model: torch.nn.Module, sentence_features: Iterable[dict[str, Tensor]]) -> list[Tensor]:
    """Anchor, positive and negative embeddings (float32), the way sentence-transformers' losses embed them."""
    embeddings = embed_columns(model, sentence_features)
    if len(embeddings) != 3:
        raise ValueError(f"SemCSE losses expect (anchor, positive, negative) columns; got {len(embeddings)} column(s)")
    return [e.float() for e in embeddings]


def in_batch_negative_mask(labels: Tensor | None, batch: int, device: torch.device) -> Tensor:
    """(batch, 2*batch) mask of the candidates [positives..., negatives...] usable as negatives of each anchor.

    Excludes each anchor's own positive, and (when ``labels`` = rows ``[paper, negative_paper, kind]``
    are given) every positive or negative that comes from the anchor's own paper.
    """
    eye = torch.eye(batch, dtype=torch.bool, device=device)
    if labels is None:
        return torch.cat([~eye, torch.ones_like(eye)], dim=1)
    labels = labels.to(device).view(batch, -1)
    paper, negative_paper = labels[:, 0], labels[:, 1]
    other_positive = paper[:, None] != paper[None, :]
    other_negative = paper[:, None] != negative_paper[None, :]
    return torch.cat([other_positive & ~eye, other_negative], dim=1)


def l2_term(embeddings: list[Tensor]) -> Tensor:
    """Mean squared L2 norm of all embeddings in the batch."""
    return torch.cat(embeddings).pow(2).sum(dim=-1).mean()
