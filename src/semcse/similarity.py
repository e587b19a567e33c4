"""Distances as objects (pytorch-metric-learning style), shared by training, evaluation and search.

Each distance maps two batches of embeddings to a matrix where *smaller means closer*, and names
the sentence-transformers similarity function it corresponds to (``similarity_fn_name``), so a
saved model compares embeddings the way it was trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class EuclideanDistance:
    """Euclidean (L2) distance; sentence-transformers name ``euclidean``."""

    name: str = "euclidean"
    similarity_fn_name: str = "euclidean"

    def pairwise(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(n, d) x (m, d) -> (n, m) distances."""
        return torch.cdist(a, b, p=2)

    def paired(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """(n, d) x (n, d) -> (n,) distances between rows."""
        return torch.linalg.vector_norm(a - b, dim=-1)


@dataclass(frozen=True)
class CosineDistance:
    """1 - cosine similarity; sentence-transformers name ``cosine``."""

    name: str = "cosine"
    similarity_fn_name: str = "cosine"

    def pairwise(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        a = torch.nn.functional.normalize(a, dim=-1)
        b = torch.nn.functional.normalize(b, dim=-1)
        return 1.0 - a @ b.T

    def paired(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return 1.0 - torch.nn.functional.cosine_similarity(a, b, dim=-1)


_DISTANCES = {"euclidean": EuclideanDistance, "cosine": CosineDistance}


def get_distance(name: str) -> EuclideanDistance | CosineDistance:
    """The distance object for a similarity name: ``euclidean`` or ``cosine``."""
    key = name.lower()
    if key not in _DISTANCES:
        raise ValueError(f"unknown similarity {name!r}; use one of {sorted(_DISTANCES)}")
    return _DISTANCES[key]()


def partner_ranks(queries: np.ndarray | torch.Tensor, candidates: np.ndarray | torch.Tensor, distance,
                  targets: np.ndarray | None = None, chunk: int = 1024) -> np.ndarray:
    """1-based rank of each query's true partner among all candidates (vectorised, chunked).

    ``targets[i]`` is the index of query i's partner in ``candidates`` (default: i). Ties count
    against the query (a candidate at equal distance ranks ahead), so a constant embedding gets
    the worst rank rather than the best.
    """
    q = torch.as_tensor(np.asarray(queries), dtype=torch.float32)
    c = torch.as_tensor(np.asarray(candidates), dtype=torch.float32)
    t = torch.arange(len(q)) if targets is None else torch.as_tensor(targets, dtype=torch.long)
    ranks = []
    for start in range(0, len(q), chunk):
        d = distance.pairwise(q[start : start + chunk], c)
        own = d.gather(1, t[start : start + chunk, None])
        ranks.append(((d <= own).sum(dim=1)).numpy())  # includes the partner itself -> 1-based
    return np.concatenate(ranks) if ranks else np.zeros(0, dtype=np.int64)
