"""Bootstrap intervals over queries: of a mean, and of the paired change between two models."""

from __future__ import annotations

import numpy as np
import pytest

from semcse.bootstrap import mean_interval, paired_change_interval

rng = np.random.default_rng(0)
BASE = rng.integers(1, 20, size=400).astype(float)


def test_the_interval_of_a_mean_holds_the_mean_and_narrows_with_more_queries():
    low, high = mean_interval(BASE)
    assert low < BASE.mean() < high
    small = mean_interval(BASE[:40])
    assert small[1] - small[0] > high - low
    assert mean_interval(BASE, seed=3) == mean_interval(BASE, seed=3)  # a report repeats
    wide = mean_interval(BASE, confidence=0.99)
    assert wide[0] < low and wide[1] > high
    assert mean_interval(np.full(30, 2.0)) == (2.0, 2.0)
    with pytest.raises(ValueError, match="non-empty"):
        mean_interval([])
    with pytest.raises(ValueError, match="confidence"):
        mean_interval(BASE, confidence=1.0)


def test_identical_ranks_change_nothing():
    assert paired_change_interval(BASE, BASE) == (0.0, 0.0, 0.0)


def test_clearly_worse_is_outside_its_interval_and_noise_is_not():
    change, low, high = paired_change_interval(BASE, BASE + 3)
    assert change > 0 and 0 < low < change < high
    shuffled = rng.permutation(BASE)  # same distribution, unrelated per query: a wide interval around 0
    _, low, high = paired_change_interval(BASE, shuffled)
    assert low < 0 < high


def test_smaller_pools_get_wider_intervals():
    small = paired_change_interval(BASE[:40], rng.permutation(BASE[:40]))
    large = paired_change_interval(BASE, rng.permutation(BASE))
    assert small[2] - small[1] > large[2] - large[1]


def test_unequal_vectors_are_rejected():
    with pytest.raises(ValueError, match="equal"):
        paired_change_interval(BASE, BASE[:10])
