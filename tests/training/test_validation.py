"""Validation evaluator: exact mean ranks on crafted embeddings; broken embeddings rank last."""

from __future__ import annotations

import numpy as np
import pytest

from semcse.similarity import EuclideanDistance
from semcse.training.papers import TrainingPaper
from semcse.training.validation import PartnerRankEvaluator, validation_pairs


class _LookupModel:
    """Stands in for a SentenceTransformer: encodes each text with a fixed vector."""

    def __init__(self, vectors: dict[str, list[float]]):
        self.vectors = vectors
        self.model_card_data = type("Card", (), {"set_evaluation_metrics": lambda *a, **k: None})()

    def encode(self, texts, **kwargs):
        return np.asarray([self.vectors[t] for t in texts], dtype=np.float32)


def test_mean_rank_mrr_and_recall_are_exact():
    tasks = {"t": (["q0", "q1", "q2"], ["c0", "c1", "c2"])}
    vectors = {"q0": [0, 0], "q1": [5, 0], "q2": [0, 5], "c0": [0.1, 0], "c1": [0.2, 0], "c2": [0, 4.9]}
    metrics = PartnerRankEvaluator(tasks, EuclideanDistance(), name="v")(_LookupModel(vectors))
    # q0 -> c0 nearest (rank 1); q1 -> c1 at 4.8 but c0 at 4.9, c2 far: rank 1; q2 -> c2 rank 1
    assert metrics["v_t_mean_rank"] == 1.0
    vectors["q1"] = [0, 0.05]  # now c0 (0.11) is closer than c1 (0.206): rank 2
    metrics = PartnerRankEvaluator(tasks, EuclideanDistance(), name="v")(_LookupModel(vectors))
    assert metrics["v_t_mean_rank"] == pytest.approx(4 / 3)
    assert metrics["v_t_mrr"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert metrics["v_t_recall@1"] == pytest.approx(2 / 3)
    assert metrics["v_mean_rank"] == metrics["v_t_mean_rank"]


def test_nan_embeddings_rank_last():
    tasks = {"t": (["q0", "q1"], ["c0", "c1"])}
    vectors = {"q0": [np.nan, 0], "q1": [np.nan, 1], "c0": [np.nan, 0], "c1": [np.nan, 1]}
    metrics = PartnerRankEvaluator(tasks, EuclideanDistance())(_LookupModel(vectors))
    assert metrics["validation_mean_rank"] == 2.0


def test_validation_pairs_cover_three_tasks():
    papers = [TrainingPaper(f"p{i}", f"title {i}" if i else None, f"s{i}a. s{i}b. s{i}c.", [f"s{i}a.", f"s{i}b.", f"s{i}c."],
                            [f"sum {i}", f"other {i}"]) for i in range(4)]
    tasks = validation_pairs(papers)
    assert tasks["summary-abstract"] == (["sum 0", "sum 1", "sum 2", "sum 3"], [p.abstract for p in papers])
    assert tasks["title-abstract"][0] == ["title 1", "title 2", "title 3"]
    assert tasks["abstract-halves"][0][0] == "s0a." and tasks["abstract-halves"][1][0] == "s0b. s0c."


def test_primary_score_is_the_geometric_mean_of_task_mean_ranks():
    tasks = {"a": (["q0", "q1"], ["c0", "c1"]), "b": (["r0", "r1"], ["d0", "d1"])}
    # task a: both partners rank 1; task b: q "r0" finds d1 first (rank 2), "r1" rank 1 -> mean 1.5
    vectors = {"q0": [0, 0], "q1": [9, 9], "c0": [0, 0], "c1": [9, 9],
               "r0": [0, 0], "r1": [0.4, 0.4], "d0": [1, 1], "d1": [0.5, 0.5]}
    metrics = PartnerRankEvaluator(tasks, EuclideanDistance(), name="v")(_LookupModel(vectors))
    assert metrics["v_a_mean_rank"] == 1.0 and metrics["v_b_mean_rank"] == 1.5
    assert metrics["v_mean_rank"] == pytest.approx((1.0 * 1.5) ** 0.5)


def test_papers_without_summaries_serve_title_and_halves_only():
    with_summaries = [TrainingPaper(f"p{i}", f"title {i}", f"a{i}. b{i}.", [f"a{i}.", f"b{i}."], [f"sum {i}"]) for i in range(2)]
    without = [TrainingPaper(f"u{i}", f"utitle {i}", f"x{i}. y{i}.", [f"x{i}.", f"y{i}."], []) for i in range(3)]
    tasks = validation_pairs(with_summaries + without)
    assert tasks["summary-abstract"] == (["sum 0", "sum 1"], ["a0. b0.", "a1. b1."])
    assert len(tasks["title-abstract"][0]) == 5 and len(tasks["abstract-halves"][0]) == 5
