"""Metrics against hand-built embeddings with known answers, and against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from semcse.evaluation import metrics as M
from semcse.similarity import CosineDistance, EuclideanDistance

EUC, COS = EuclideanDistance(), CosineDistance()


def onehot(n: int, dim: int | None = None) -> np.ndarray:
    return np.eye(n, dim or n, dtype=np.float32)


@pytest.mark.parametrize("dist", [EUC, COS])
def test_ranks_perfect(dist):
    x = onehot(8)
    m = M.rank_metrics(M.partner_ranks(x, x, dist), pool_size=8)
    assert m["mean_rank"] == 1.0 and m["mrr"] == 1.0 and m["recall_at_1"] == 1.0
    assert m["random_mean_rank"] == 4.5


def test_ranks_reversed_partner_is_farthest():
    # candidates on a line; query i sits on candidate N-1-i but its partner is candidate i
    n = 7
    cands = np.arange(n, dtype=np.float32)[:, None] * np.array([[1.0, 0.0]], dtype=np.float32)
    queries = cands[::-1].copy()
    targets = np.arange(n)
    ranks = M.partner_ranks(queries, cands, EUC, targets)
    # expected rank = number of candidates at distance <= |q - c_i|
    expected = [int((np.abs(cands[:, 0] - q) <= abs(cands[i, 0] - q)).sum()) for i, q in enumerate(queries[:, 0])]
    assert ranks.tolist() == expected
    assert ranks[0] == n and ranks[-1] == n  # the ends: partner at the far end of the line


def test_ranks_fully_reversed_cosine():
    # partner of query i is -q_i: the farthest candidate under cosine
    q = onehot(5)
    c = -q
    ranks = M.partner_ranks(q, c, COS)
    assert (ranks == 5).all()
    assert M.rank_metrics(ranks)["mrr"] == pytest.approx(0.2)


def test_ranks_random_near_half_pool():
    rng = np.random.default_rng(0)
    n, trials = 200, 5
    means = [M.rank_metrics(M.partner_ranks(rng.normal(size=(n, 32)), rng.normal(size=(n, 32)), EUC))["mean_rank"]
             for _ in range(trials)]
    assert abs(np.mean(means) - (n + 1) / 2) < 8


def test_ranks_ties_count_against():
    x = np.ones((6, 4), dtype=np.float32)
    assert (M.partner_ranks(x, x, EUC) == 6).all()


def test_rank_metrics_rejects_empty_and_zero():
    with pytest.raises(ValueError, match="empty"):
        M.rank_metrics([])
    with pytest.raises(ValueError, match="1-based"):
        M.rank_metrics([0, 1])


def clusters(n_per: int, k: int, dim: int = 8, spread: float = 0.01, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.eye(k, dim) * 10
    x = np.concatenate([c + spread * rng.normal(size=(n_per, dim)) for c in centres])
    return x.astype(np.float32), [f"c{i}" for i in range(k) for _ in range(n_per)]


def test_knn_agreement_perfect_and_mixed():
    x, labels = clusters(12, 3)
    assert M.knn_label_agreement(x, labels, EUC, k=10) == 1.0
    # alternating labels inside one tight blob -> about half of neighbours agree
    rng = np.random.default_rng(1)
    blob = rng.normal(size=(60, 5)).astype(np.float32)
    alt = [i % 2 for i in range(60)]
    assert 0.3 < M.knn_label_agreement(blob, alt, EUC, k=10) < 0.7


def test_knn_agreement_matches_sklearn_nearest_neighbors():
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 6)).astype(np.float32)
    labels = rng.integers(0, 4, size=80)
    nn = NearestNeighbors(n_neighbors=11).fit(x).kneighbors(x, return_distance=False)[:, 1:]
    expected = (labels[nn] == labels[:, None]).mean()
    assert M.knn_label_agreement(x, labels, EUC, k=10) == pytest.approx(expected)


def test_knn_needs_more_items_than_k():
    with pytest.raises(ValueError, match="k = 10"):
        M.knn_label_agreement(np.zeros((5, 2)), list("aabbb"), EUC, k=10)


def test_v_measure_perfect_and_vs_sklearn():
    from sklearn.cluster import KMeans
    from sklearn.metrics import v_measure_score

    x, labels = clusters(10, 4)
    assert M.kmeans_v_measure(x, labels, EUC) == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    y = rng.normal(size=(60, 5))
    lab = rng.integers(0, 3, size=60)
    pred = KMeans(n_clusters=3, n_init=10, random_state=0).fit_predict(y)
    assert M.kmeans_v_measure(y, lab, EUC, seed=0) == pytest.approx(v_measure_score(lab, pred))


def test_triplet_accuracy_known():
    q = onehot(4)
    assert M.triplet_accuracy(q, q, -q, EUC) == 1.0
    assert M.triplet_accuracy(q, -q, q, EUC) == 0.0
    assert M.triplet_accuracy(q, q, q, COS) == 0.0  # ties count as wrong
    mixed_pos = np.concatenate([q[:2], -q[2:]])
    mixed_neg = np.concatenate([-q[:2], q[2:]])
    assert M.triplet_accuracy(q, mixed_pos, mixed_neg, EUC) == 0.5


def test_map_known_answers_and_sklearn():
    from sklearn.metrics import average_precision_score

    # relevant at ranks 1 and 3 of 4 -> (1/1 + 2/3) / 2
    s = [np.array([4.0, 3.0, 2.0, 1.0])]
    r = [np.array([1, 0, 2, 0])]
    assert M.mean_average_precision(s, r)["map"] == pytest.approx((1 + 2 / 3) / 2)
    assert M.mean_average_precision([np.array([1.0, 2.0])], [np.array([0, 1])])["map"] == 1.0
    rng = np.random.default_rng(4)
    scores = [rng.normal(size=n) for n in (5, 9, 12)]
    rels = [rng.integers(0, 2, size=n) for n in (5, 9, 12)]
    rels[0][0] = 1
    expected = np.mean([average_precision_score(rr, ss) for ss, rr in zip(scores, rels) if rr.any()])
    res = M.mean_average_precision(scores, rels)
    assert res["map"] == pytest.approx(expected)


def test_map_skips_queries_without_relevant():
    res = M.mean_average_precision([np.array([1.0, 0.0]), np.array([1.0, 0.0])], [np.array([1, 0]), np.array([0, 0])])
    assert res["queries"] == 1 and res["skipped_queries"] == 1 and res["map"] == 1.0
    with pytest.raises(ValueError, match="no query"):
        M.mean_average_precision([np.array([1.0])], [np.array([0])])


def test_ndcg_known_and_vs_sklearn_with_ragged_queries():
    from sklearn.metrics import ndcg_score

    perfect = M.mean_ndcg_at_k([np.array([3.0, 2.0, 1.0])], [np.array([2, 1, 0])], k=10)
    assert perfect["ndcg_at_10"] == pytest.approx(1.0)
    rev = M.mean_ndcg_at_k([np.array([1.0, 2.0, 3.0])], [np.array([2, 1, 0])], k=10)
    idcg = 2 / np.log2(2) + 1 / np.log2(3)
    dcg = 1 / np.log2(3) + 2 / np.log2(4)
    assert rev["ndcg_at_10"] == pytest.approx(dcg / idcg)
    rng = np.random.default_rng(5)
    sizes = (4, 10, 13, 7)
    scores = [rng.normal(size=n) for n in sizes]
    rels = [rng.integers(0, 3, size=n) for n in sizes]
    for r in rels:
        r[0] = 2
    expected = np.mean([ndcg_score([r], [s], k=10) for s, r in zip(scores, rels)])
    assert M.mean_ndcg_at_k(scores, rels, k=10)["ndcg_at_10"] == pytest.approx(expected)
