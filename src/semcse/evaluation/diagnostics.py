"""Embedding diagnostics (METHOD.md 7): alignment, uniformity, anisotropy, norms, and 2-D maps.

- alignment: mean squared distance of positive pairs after L2 normalisation (lower = positives closer);
- uniformity: ``log mean exp(-t * d^2)`` over all pairs of distinct items, normalised, t = 2
  (lower = more uniformly spread on the sphere);
- anisotropy: mean cosine of all pairs of distinct items (random pairs; near 0 is isotropic,
  near 1 a narrow cone) and the share of variance in the top principal components;
- norm statistics of the raw embeddings (blow-up / collapse show here).

Pairs are all distinct pairs of the set (the exact expectation over random pairs), computed with
matrix operations; sets are a few thousand items at most.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def _upper(m: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(len(m), k=1)
    return m[i, j]


def alignment(x: Any, y: Any, alpha: float = 2.0) -> float:
    """Mean ``||f(x) - f(y)||^alpha`` over positive pairs (rows of x and y), on normalised embeddings."""
    a, b = _normalise(x), _normalise(y)
    if a.shape != b.shape or len(a) == 0:
        raise ValueError(f"alignment needs two equal, non-empty sets of pairs; got {a.shape} and {b.shape}")
    return float((np.linalg.norm(a - b, axis=1) ** alpha).mean())


def uniformity(x: Any, t: float = 2.0) -> float:
    """``log mean exp(-t ||f(a) - f(b)||^2)`` over all pairs of distinct rows, on normalised embeddings."""
    z = _normalise(x)
    if len(z) < 2:
        raise ValueError("uniformity needs at least 2 embeddings")
    sq = np.clip(2.0 - 2.0 * _upper(z @ z.T), 0.0, None)  # ||a-b||^2 of unit vectors
    return float(np.log(np.mean(np.exp(-t * sq))))


def mean_cosine(x: Any) -> float:
    """Mean cosine similarity over all pairs of distinct rows."""
    z = _normalise(x)
    if len(z) < 2:
        raise ValueError("mean cosine needs at least 2 embeddings")
    return float(_upper(z @ z.T).mean())


def pc_variance_share(x: Any, k: int = 1) -> float:
    """Share of the total variance in the top ``k`` principal components of the (centred) embeddings."""
    a = np.asarray(x, dtype=np.float64)
    a = a - a.mean(axis=0, keepdims=True)
    s = np.linalg.svd(a, compute_uv=False) ** 2
    total = s.sum()
    return float(s[:k].sum() / total) if total > 0 else 1.0


def norm_stats(x: Any) -> dict[str, float]:
    """Mean, std, min, median and max of the embeddings' L2 norms."""
    n = np.linalg.norm(np.asarray(x, dtype=np.float64), axis=1)
    return {"norm_mean": float(n.mean()), "norm_std": float(n.std()), "norm_min": float(n.min()),
            "norm_median": float(np.median(n)), "norm_max": float(n.max())}


def diagnostics(embeddings: Any, pairs: tuple[Any, Any] | None = None, top_k: Sequence[int] = (1, 10)) -> dict[str, float]:
    """All diagnostics of one embedding set (plus alignment when positive ``pairs`` are given)."""
    x = np.asarray(embeddings)
    out: dict[str, float] = {"n": int(len(x)), "dim": int(x.shape[1])}
    if pairs is not None:
        out["alignment"] = alignment(*pairs)
        out["alignment_pairs"] = int(len(pairs[0]))
    out["uniformity"] = uniformity(x)
    out["mean_cosine"] = mean_cosine(x)
    for k in top_k:
        if k <= min(x.shape):
            out[f"pc{k}_variance_share" if k == 1 else f"top{k}_pc_variance_share"] = pc_variance_share(x, k)
    out.update(norm_stats(x))
    return out


def project_2d(x: Any, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """A 2-D map of the embeddings with t-SNE (scikit-learn) or UMAP (``umap-learn``, the ``umap`` extra)."""
    a = np.asarray(x, dtype=np.float32)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (len(a) - 1) / 3)))
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(a)
    if method == "umap":
        try:
            import umap
        except ImportError as exc:
            raise ImportError("UMAP maps need the umap extra: pip install 'semcse[umap]' (or use --projection tsne)") from exc
        return umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, len(a) - 1)).fit_transform(a)
    raise ValueError(f"unknown projection {method!r}; use tsne or umap")
