"""SciRepEval proximity (format PRX): a query paper ranks its judged candidate papers by negative
Euclidean distance; MAP x 100 (or the task's first ``metrics`` entry, e.g. ``ndcg``).

Data and scoring: :mod:`~semcse.evaluation.engines.ranking`.
"""

from __future__ import annotations

from semcse.evaluation.engines import register
from semcse.evaluation.engines.ranking import RankingEngine


@register
class ProximityEngine(RankingEngine):
    """Query papers rank their candidates (SciRepEval's proximity tasks; citation triplets)."""

    type = "proximity"
    format = "PRX"
    OPTIONS = {**RankingEngine.OPTIONS, "metrics": ["map"]}
    metric = "map"
