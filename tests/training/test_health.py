"""Training health checks: NaN, collapse and norm blow-up are reported; a healthy run is not."""

from __future__ import annotations

import torch

from semcse.training.health import HealthMonitor, HealthStats


def _rec(loss, d_ap, d_an, norm=1.0, violating=0.5):
    return {"loss": loss, "triplet": loss, "d_ap": d_ap, "d_an": d_an, "norm": norm, "violating": violating}


def test_healthy_run_gives_no_warning():
    monitor = HealthMonitor(margin=0.5)
    for step, (d_ap, d_an) in enumerate([(0.9, 1.2), (0.8, 1.25), (0.7, 1.3), (0.6, 1.35), (0.55, 1.4)], start=1):
        assert monitor.check(_rec(0.3, d_ap, d_an, violating=0.2), step) == []
    assert not monitor.warnings and not monitor.saw_nan


def test_nan_is_reported_once():
    monitor = HealthMonitor(margin=0.5)
    assert monitor.check(_rec(0.3, 0.9, 1.2), 1) == []
    new = monitor.check(_rec(float("nan"), float("nan"), 1.2), 2)
    assert len(new) == 1 and "non-finite" in new[0] and "loss" in new[0] and monitor.saw_nan
    assert monitor.check(_rec(float("nan"), 1.0, 1.0), 3) == []


def test_collapse_distances_shrinking_and_loss_at_margin(caplog):
    monitor = HealthMonitor(margin=0.5)
    history = [(0.45, 0.9, 1.2), (0.49, 0.1, 0.12), (0.5, 0.01, 0.011), (0.5, 0.001, 0.001), (0.5, 0.0005, 0.0005)]
    warnings = [w for step, (loss, d_ap, d_an) in enumerate(history, start=1) for w in monitor.check(_rec(loss, d_ap, d_an), step)]
    assert len(warnings) == 1 and "COLLAPSE" in warnings[0] and "margin" in warnings[0]
    assert "TRAINING HEALTH" in caplog.text


def test_unreachable_margin_on_unit_normalised_embeddings():
    # what margin 0.5 did to all-MiniLM-L6-v2: d(a,n) climbs towards sqrt(2), half the triplets still violate
    history = [(0.90, 1.30, 0.87), (0.93, 1.33, 0.68), (0.92, 1.36, 0.59), (0.94, 1.37, 0.52), (0.94, 1.38, 0.57)]
    monitor = HealthMonitor(margin=0.5)
    warnings = [w for step, (d_ap, d_an, v) in enumerate(history, 1) for w in monitor.check(_rec(0.13, d_ap, d_an, violating=v), step)]
    assert len(warnings) == 1 and "margin 0.5 looks unreachable" in warnings[0] and "--margin" in warnings[0]
    # the same distances with few violations (margin 0.2), or without unit norms, or without a margin: no warning
    for margin, norm, violating in ((0.2, 1.0, 0.2), (0.5, 7.5, 0.6), (None, 1.0, 0.6)):
        monitor = HealthMonitor(margin=margin)
        assert not [w for step, (d_ap, d_an, _) in enumerate(history, 1)
                    for w in monitor.check(_rec(0.1, d_ap, d_an, norm=norm, violating=violating), step)]
    cosine = HealthMonitor(margin=0.5, distance="cosine")  # cosine distance: unrelated texts sit near 1
    assert [w for step, v in enumerate((0.8, 0.7, 0.6, 0.6), 1) for w in cosine.check(_rec(0.2, 0.6, 0.95, violating=v), step)]


def test_norm_blowup():
    monitor = HealthMonitor(margin=None)
    monitor.check(_rec(0.3, 1.0, 2.0, norm=5.0), 1)
    assert any("norm" in w for w in monitor.check(_rec(0.3, 10.0, 20.0, norm=80.0), 2))


def test_stats_accumulate_means_and_reset():
    stats = HealthStats()
    emb = torch.tensor([[3.0, 4.0], [0.0, 1.0]])
    stats.add(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0]), torch.tensor([True, False]), emb)
    stats.add(torch.tensor([3.0, 3.0]), torch.tensor([4.0, 4.0]), torch.tensor([True, True]), emb)
    out = stats.pop()
    assert out == {"d_ap": 2.5, "d_an": 3.0, "violating": 0.75, "norm": 3.0}
    assert stats.pop() == {}
