"""Bootstrap intervals over queries: how sure a mean score, or a change between two models, is.

Both resample the queries of one pool with replacement (percentile bootstrap, ``samples``
resamples, a fixed ``seed`` so a report repeats). The paired form resamples the same queries for
both models, so the interval reflects the difference, not each model's own spread.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

SAMPLES = 1000
"""Resamples per interval unless a caller asks for another number."""


def _resampled_means(arrays: tuple[np.ndarray, ...], samples: int, seed: int) -> Iterator[tuple[np.ndarray, ...]]:
    """Means of each array over the same resampled query indices, 100 resamples at a time (bounded memory)."""
    rng = np.random.default_rng(seed)
    n = len(arrays[0])
    for start in range(0, samples, 100):
        idx = rng.integers(0, n, size=(min(100, samples - start), n))
        yield tuple(a[idx].mean(axis=1) for a in arrays)


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _vector(values, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError(f"{name} must be a non-empty vector of per-query values; got shape {v.shape}")
    return v


def mean_interval(values, confidence: float = 0.95, samples: int = SAMPLES, seed: int = 0) -> tuple[float, float]:
    """The bootstrap interval of the mean of per-query ``values`` (e.g. partner ranks, kNN agreements)."""
    v = _vector(values, "values")
    means = np.concatenate([m for (m,) in _resampled_means((v,), samples, seed)])
    return _percentiles(means, confidence)


def paired_change_interval(base, cand, confidence: float = 0.9, samples: int = SAMPLES,
                           seed: int = 0) -> tuple[float, float, float]:
    """Relative change of the mean, mean(cand)/mean(base) - 1, and its paired bootstrap interval.

    ``base[i]`` and ``cand[i]`` are the two models' values for the same query i (a rank, an
    agreement); queries are resampled together. Needs a non-zero base mean.
    """
    base, cand = _vector(base, "base"), _vector(cand, "cand")
    if base.shape != cand.shape:
        raise ValueError(f"paired values must be two equal, non-empty vectors; got {base.shape} and {cand.shape}")
    change = cand.mean() / base.mean() - 1.0
    ratios = np.concatenate([c / b - 1.0 for b, c in _resampled_means((base, cand), samples, seed)])
    low, high = _percentiles(ratios, confidence)
    return float(change), low, high
