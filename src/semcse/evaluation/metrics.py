"""Metrics of the evaluation, vectorised over embedding matrices.

Every function takes plain arrays (``numpy`` or ``torch``) and a distance object from
:mod:`semcse.similarity` where geometry matters, and returns plain floats / dicts, so each can be
tested against hand-built embeddings. scikit-learn is used wherever it has the metric
(V-measure, k-means, average precision, nDCG). SciRepEval's own protocol (probes, trec_eval
measures) is in :mod:`semcse.evaluation.scirepeval.protocol`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from semcse.similarity import partner_ranks

__all__ = [
    "partner_ranks", "rank_metrics", "knn_label_agreement", "kmeans_v_measure", "triplet_accuracy",
    "mean_average_precision", "mean_ndcg_at_k",
]


def _t(x: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float32))


def rank_metrics(ranks: Sequence[int] | np.ndarray, pool_size: int | None = None) -> dict[str, float]:
    """Summary of 1-based partner ranks: mean rank (the score, lower is better), median, MRR, recall@1/@10.

    ``pool_size`` (the number of candidates) is used to report the mean rank a random model
    would get, ``(N + 1) / 2``.
    """
    r = np.asarray(ranks, dtype=np.float64)
    if r.size == 0:
        raise ValueError("no ranks: the pool is empty")
    if (r < 1).any():
        raise ValueError("ranks are 1-based; got a rank below 1")
    out = {
        "mean_rank": float(r.mean()),
        "median_rank": float(np.median(r)),
        "mrr": float((1.0 / r).mean()),
        "recall_at_1": float((r <= 1).mean()),
        "recall_at_10": float((r <= 10).mean()),
    }
    if pool_size:
        out["random_mean_rank"] = (pool_size + 1) / 2
    return out


def knn_indices(embeddings: Any, distance, k: int, chunk: int = 1024) -> np.ndarray:
    """Indices ``(n, k)`` of each row's k nearest other rows (itself excluded), nearest first."""
    x = _t(embeddings)
    n = len(x)
    if k >= n:
        raise ValueError(f"k = {k} needs more than {k} items; the pool has {n}")
    out = []
    for s in range(0, n, chunk):
        d = distance.pairwise(x[s : s + chunk], x)
        rows = torch.arange(s, min(s + chunk, n))
        d[rows - s, rows] = float("inf")
        out.append(torch.topk(d, k, dim=1, largest=False).indices.numpy())
    return np.concatenate(out)


def knn_label_agreement_per_item(embeddings: Any, labels: Sequence[Any], distance, k: int = 10) -> np.ndarray:
    """Per item, the share of its k nearest neighbours (itself excluded) with the same label."""
    labels_arr = np.asarray(labels)
    if len(labels_arr) != len(embeddings):
        raise ValueError(f"{len(embeddings)} embeddings but {len(labels_arr)} labels")
    nn = knn_indices(embeddings, distance, k)
    return (labels_arr[nn] == labels_arr[:, None]).mean(axis=1)


def knn_label_agreement(embeddings: Any, labels: Sequence[Any], distance, k: int = 10) -> float:
    """Mean over items of the share of its k nearest neighbours (itself excluded) with the same label."""
    return float(knn_label_agreement_per_item(embeddings, labels, distance, k).mean())


def kmeans_v_measure(embeddings: Any, labels: Sequence[Any], distance=None, seed: int = 0, n_init: int = 10) -> float:
    """V-measure of k-means (k = number of distinct labels) against the labels.

    For a cosine model the embeddings are L2-normalised first (spherical k-means), so the
    clustering uses the geometry the model is compared in.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import v_measure_score

    x = np.asarray(embeddings, dtype=np.float64)
    if distance is not None and getattr(distance, "name", "") == "cosine":
        x = x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)
    n_classes = len(set(labels))
    if n_classes < 2:
        raise ValueError("V-measure needs at least 2 labels")
    pred = KMeans(n_clusters=n_classes, n_init=n_init, random_state=seed).fit_predict(x)
    return float(v_measure_score(list(labels), pred))


def triplet_accuracy(queries: Any, positives: Any, negatives: Any, distance) -> float:
    """Share of triplets whose positive is strictly closer to the query than the negative (ties count as wrong)."""
    q, p, n = _t(queries), _t(positives), _t(negatives)
    if not (len(q) == len(p) == len(n)) or len(q) == 0:
        raise ValueError(f"triplets need equal, non-zero lengths; got {len(q)}, {len(p)}, {len(n)}")
    return float((distance.paired(q, p) < distance.paired(q, n)).float().mean())


def _groups(scores: Sequence[np.ndarray], relevance: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(scores) != len(relevance):
        raise ValueError(f"{len(scores)} score lists but {len(relevance)} relevance lists")
    out = []
    for s, r in zip(scores, relevance):
        s, r = np.asarray(s, dtype=np.float64), np.asarray(r, dtype=np.float64)
        if s.shape != r.shape:
            raise ValueError(f"a query has {s.size} scores but {r.size} relevance values")
        out.append((s, r))
    return out


def mean_average_precision(scores: Sequence[np.ndarray], relevance: Sequence[np.ndarray]) -> dict[str, float]:
    """MAP over queries: ``scores[i]`` are query i's candidate scores (higher = closer), ``relevance[i]`` their grades.

    A candidate is relevant when its grade is > 0. Queries with no relevant candidate are left
    out (counted in ``skipped_queries``). Uses ``sklearn.metrics.average_precision_score``.
    """
    from sklearn.metrics import average_precision_score

    aps, skipped = [], 0
    for s, r in _groups(scores, relevance):
        rel = (r > 0).astype(int)
        if rel.sum() == 0:
            skipped += 1
            continue
        aps.append(average_precision_score(rel, s))
    if not aps:
        raise ValueError("MAP: no query has a relevant candidate")
    return {"map": float(np.mean(aps)), "queries": len(aps), "skipped_queries": skipped}


def mean_ndcg_at_k(scores: Sequence[np.ndarray], relevance: Sequence[np.ndarray], k: int = 10) -> dict[str, float]:
    """Mean nDCG@k over queries with graded relevance (linear gain, as trec_eval / sklearn).

    Queries with different candidate counts are padded with irrelevant candidates scored below
    every real one (which changes neither DCG nor the ideal DCG), so one ``sklearn.metrics.ndcg_score``
    call scores them all. Queries whose candidates are all irrelevant are left out (``skipped_queries``).
    """
    from sklearn.metrics import ndcg_score

    groups = [(s, r) for s, r in _groups(scores, relevance) if (r > 0).any()]
    skipped = len(scores) - len(groups)
    if not groups:
        raise ValueError("nDCG: no query has a relevant candidate")
    width = max(2, max(len(s) for s, _ in groups))
    y_true = np.zeros((len(groups), width))
    y_score = np.empty((len(groups), width))
    for i, (s, r) in enumerate(groups):
        y_true[i, : len(r)] = r
        y_score[i, : len(s)] = s
        y_score[i, len(s):] = (s.min() if len(s) else 0.0) - 1.0
    return {f"ndcg_at_{k}": float(ndcg_score(y_true, y_score, k=k)), "queries": len(groups), "skipped_queries": skipped}
