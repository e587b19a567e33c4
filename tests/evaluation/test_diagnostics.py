"""Diagnostics against hand-built embeddings and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from semcse.evaluation import diagnostics as D


def test_alignment_known():
    x = np.eye(4)
    assert D.alignment(x, x) == 0.0
    assert D.alignment(x, -x) == pytest.approx(4.0)
    assert D.alignment(3 * x, x) == 0.0  # normalised first
    with pytest.raises(ValueError):
        D.alignment(np.eye(3), np.eye(4))


def test_uniformity_known():
    assert D.uniformity(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(-8.0)
    assert D.uniformity(np.ones((5, 3))) == pytest.approx(0.0)  # collapsed: worst uniformity
    # orthonormal vectors: every pair at squared distance 2 -> log exp(-4) = -4
    assert D.uniformity(np.eye(6)) == pytest.approx(-4.0)


def test_mean_cosine_and_pc_share():
    assert D.mean_cosine(np.ones((4, 3))) == pytest.approx(1.0)
    assert D.mean_cosine(np.eye(5)) == pytest.approx(0.0)
    line = np.outer(np.arange(10.0), [1.0, 2.0, -1.0])
    assert D.pc_variance_share(line, 1) == pytest.approx(1.0)


def test_pc_share_matches_sklearn_pca():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).normal(size=(50, 8)) * np.arange(1, 9)
    ratio = PCA().fit(x).explained_variance_ratio_
    assert D.pc_variance_share(x, 1) == pytest.approx(ratio[0])
    assert D.pc_variance_share(x, 3) == pytest.approx(ratio[:3].sum())


def test_norm_stats_and_bundle():
    x = np.array([[3.0, 4.0], [0.0, 1.0]])
    s = D.norm_stats(x)
    assert s["norm_mean"] == pytest.approx(3.0) and s["norm_min"] == 1.0 and s["norm_max"] == 5.0
    d = D.diagnostics(np.random.default_rng(1).normal(size=(20, 12)), pairs=(np.eye(3), np.eye(3)))
    assert d["alignment"] == 0.0 and d["n"] == 20 and "top10_pc_variance_share" in d and "pc1_variance_share" in d


def test_projection_shapes_and_unknown():
    xy = D.project_2d(np.random.default_rng(2).normal(size=(25, 6)), "tsne")
    assert xy.shape == (25, 2)
    with pytest.raises(ValueError, match="unknown projection"):
        D.project_2d(np.zeros((5, 2)), "pca3")
