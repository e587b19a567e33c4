"""Pareto-safe selection: blocking tasks, voting pools, interpolation (the intervals: tests/test_bootstrap.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semcse.similarity import EuclideanDistance
from semcse.training.selection import ParetoSelector, interpolate_state
from semcse.training.validation import PartnerRankEvaluator

rng = np.random.default_rng(0)
BASE = rng.integers(1, 20, size=400).astype(float)


def test_a_task_worse_beyond_its_interval_blocks_the_candidate():
    selector = ParetoSelector(min_vote_pool=200)
    base = {"halves": BASE, "title": BASE}
    better_halves_worse_title = {"halves": np.maximum(1, BASE - 5), "title": BASE + 2}
    verdict = selector.compare(base, better_halves_worse_title)
    assert not verdict.eligible and verdict.blocked_by == ["title"]
    assert verdict.changes["halves"].change < 0 and verdict.changes["title"].low > 0
    assert "blocked by title" in verdict.describe()
    assert selector.compare(base, {"halves": np.maximum(1, BASE - 5), "title": BASE}).eligible


def test_small_pools_neither_vote_nor_block_on_their_own():
    selector = ParetoSelector(min_vote_pool=200)
    base = {"big": BASE, "small": BASE[:30]}
    assert selector.voting_tasks(base) == ["big"]
    assert selector.score(base) == pytest.approx(BASE.mean())
    verdict = selector.compare(base, {"big": np.maximum(1, BASE - 3), "small": BASE[:30] + 10})
    assert verdict.eligible and verdict.changes["small"].low > 0 and not verdict.changes["small"].blocks  # reported only
    assert not selector.compare(base, {"big": BASE + 3, "small": BASE[:30] + 10}).eligible  # a big pool still blocks
    small_only = {"a": BASE[:30], "b": BASE[:40]}
    assert not selector.compare(small_only, {"a": BASE[:30] + 10, "b": BASE[:40]}).eligible  # all small: all block
    assert selector.voting_tasks({"a": BASE[:30], "b": BASE[:40]}) == ["a", "b"]  # nothing big enough: all vote


def test_interpolation_of_weights():
    base = {"w": torch.zeros(3), "b": torch.ones(2), "ids": torch.tensor([1, 2])}
    trained = {"w": torch.full((3,), 2.0), "b": torch.full((2,), 3.0), "ids": torch.tensor([5, 6])}
    half = interpolate_state(base, trained, 0.5)
    assert torch.equal(half["w"], torch.ones(3)) and torch.equal(half["b"], torch.full((2,), 2.0))
    assert torch.equal(half["ids"], trained["ids"])  # integer buffers are not averaged
    assert torch.equal(interpolate_state(base, trained, 0.0)["w"], base["w"])


class _Lookup:
    def __init__(self, vectors):
        self.vectors = vectors
        self.model_card_data = type("Card", (), {"set_evaluation_metrics": lambda *a, **k: None})()

    def encode(self, texts, **kwargs):
        return np.asarray([self.vectors[t] for t in texts], dtype=np.float32)


def test_evaluator_scores_a_candidate_worse_than_the_base_as_infinite():
    n = 60
    queries, partners = [f"q{i}" for i in range(n)], [f"c{i}" for i in range(n)]
    good = {**{q: [i, 0.0] for i, q in enumerate(queries)}, **{c: [i, 0.1] for i, c in enumerate(partners)}}
    bad = {**good, **{q: [i + 0.6, 0.0] for i, q in enumerate(queries)}}  # every query nearer its neighbour's partner
    evaluator = PartnerRankEvaluator({"t": (queries, partners)}, EuclideanDistance(), name="v")
    base = evaluator(_Lookup(good))
    assert base["v_selection_score"] == base["v_score"] == 1.0 and base["v_eligible"] == 1.0
    evaluator.base_ranks = dict(evaluator.last_ranks)
    worse = evaluator(_Lookup(bad))
    assert worse["v_eligible"] == 0.0 and worse["v_selection_score"] == float("inf")
    assert worse["v_t_change"] > 0 and worse["v_t_change_low"] > 0 and evaluator.last_verdict.blocked_by == ["t"]
    same = evaluator(_Lookup(good))
    assert same["v_eligible"] == 1.0 and same["v_selection_score"] == 1.0
