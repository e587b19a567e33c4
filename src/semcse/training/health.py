"""Training health: running statistics the losses record, and the checks that warn about them.

Each loss adds, per batch, the mean anchor-positive and anchor-negative distances, the share of
triplets still violating (positive not clearly closer than the negative) and the mean embedding
norm. :class:`HealthMonitor` reads the averages at every log step and warns on NaN/inf, collapse
(all distances shrinking while the loss sits at the margin), norm blow-up (METHOD.md 4), and an
unreachable margin: on unit-normalised embeddings unrelated texts sit near a fixed distance
(sqrt(2) Euclidean, 1 cosine), so a margin that most triplets cannot meet there makes the loss push
every text away from every other instead of pulling partners together (measured: margin 0.5 on
all-MiniLM-L6-v2 made every matching task worse; see docs/results.md).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import torch

log = logging.getLogger(__name__)

HEALTH_KEYS = ("d_ap", "d_an", "violating", "norm")


class HealthStats:
    """Sums of per-batch statistics, kept on the device until read (no sync per step)."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0

    @torch.no_grad()
    def add(self, d_ap: torch.Tensor, d_an: torch.Tensor, violating: torch.Tensor, embeddings: torch.Tensor) -> None:
        values = {
            "d_ap": d_ap.detach().float().mean(),
            "d_an": d_an.detach().float().mean(),
            "violating": violating.detach().float().mean(),
            "norm": torch.linalg.vector_norm(embeddings.detach().float(), dim=-1).mean(),
        }
        for k, v in values.items():
            self._sums[k] = self._sums[k] + v if k in self._sums else v
        self._count += 1

    def pop(self) -> dict[str, float]:
        """Means since the last call (empty when nothing was added), then reset."""
        if not self._count:
            return {}
        out = {k: float(v.item()) / self._count for k, v in self._sums.items()}
        self._sums, self._count = {}, 0
        return out


@dataclass
class HealthMonitor:
    """Checks the logged statistics and warns, each kind of problem once per run."""

    margin: float | None = None  # the triplet margin, for "loss stuck at the margin"
    distance: str = "euclidean"  # the loss's distance, for the unreachable-margin check
    shrink_factor: float = 0.2  # distances below this share of their first value count as shrunk
    blowup_factor: float = 10.0
    history: list[dict[str, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    _warned: set[str] = field(default_factory=set)

    def _warn(self, key: str, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        self.warnings.append(message)
        log.warning("TRAINING HEALTH: %s", message)

    def check(self, record: dict[str, float], step: int) -> list[str]:
        """Check one log record (loss and health keys); returns the new warnings."""
        before = len(self.warnings)
        bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            self._warn("nan", f"step {step}: non-finite values in {bad} ({ {k: record[k] for k in bad} }); "
                              "training is diverging (lower the learning rate, use bf16 instead of fp16, check the data)")
        if all(k in record for k in ("d_ap", "d_an")):
            self.history.append({**record, "step": step})
            first = self.history[0]
            recent = self.history[-3:]
            if len(self.history) >= 4 and first["d_an"] > 0:
                shrunk = all(r["d_an"] < self.shrink_factor * first["d_an"] and r["d_ap"] < self.shrink_factor * max(first["d_ap"], 1e-12)
                             for r in recent)
                gap_gone = all(abs(r["d_an"] - r["d_ap"]) < 0.05 * max(first["d_an"], 1e-12) for r in recent)
                loss = record.get("triplet", record.get("loss"))
                at_margin = self.margin is not None and loss is not None and abs(loss - self.margin) < 0.05 * self.margin
                if shrunk and (gap_gone or at_margin):
                    self._warn("collapse", f"step {step}: embedding COLLAPSE: mean d(a,p) {record['d_ap']:.4g} and d(a,n) "
                                           f"{record['d_an']:.4g} shrank below {self.shrink_factor:.0%} of their start "
                                           f"({first['d_ap']:.4g}, {first['d_an']:.4g})"
                                           + (f" and the loss sits at the margin ({loss:.4g})" if at_margin else "")
                                           + "; lower the learning rate or the L2 weight, or use batch-all negatives")
            self._check_margin(recent, step)
            if "norm" in record and first.get("norm", 0) > 0 and record["norm"] > self.blowup_factor * first["norm"]:
                self._warn("norm", f"step {step}: mean embedding norm {record['norm']:.4g} grew over "
                                   f"{self.blowup_factor:g}x its start ({first['norm']:.4g}); raise the L2 weight")
        return self.warnings[before:]

    def unrelated_distance(self, norm: float | None) -> float | None:
        """Where unrelated texts sit: orthogonal unit vectors (None when embeddings are not unit-normalised)."""
        if self.distance == "cosine":
            return 1.0
        if self.distance == "euclidean" and norm is not None and abs(norm - 1.0) < 0.02:
            return math.sqrt(2.0)
        return None

    def _check_margin(self, recent: list[dict[str, float]], step: int) -> None:
        if self.margin is None or len(self.history) < 4:
            return
        ceiling = self.unrelated_distance(recent[-1].get("norm"))
        if ceiling is None or not all(r.get("violating", 0.0) >= 0.4 and r["d_an"] >= 0.9 * ceiling for r in recent):
            return
        last = recent[-1]
        self._warn("margin", f"step {step}: the triplet margin {self.margin:g} looks unreachable: d(a,n) {last['d_an']:.3f} is "
                             f"near where unrelated unit-normalised texts sit ({ceiling:.3f}), yet {last['violating']:.0%} "
                             "of triplets still violate the margin, so the loss pushes all texts apart instead of pulling "
                             "partners together; use a smaller --margin (0.2 measured best on all-MiniLM-L6-v2)")

    @property
    def saw_nan(self) -> bool:
        return "nan" in self._warned
