"""SciRepEval ad-hoc search (format SRCH): a text query ranks its judged candidate papers by negative
Euclidean distance; nDCG over the full candidate list x 100 (or the task's first ``metrics`` entry).

Data and scoring: :mod:`~semcse.evaluation.engines.ranking`.
"""

from __future__ import annotations

from semcse.evaluation.engines import register
from semcse.evaluation.engines.ranking import RankingEngine


@register
class SearchEngine(RankingEngine):
    """Text queries rank their candidates (SciRepEval's ad-hoc search tasks)."""

    type = "search"
    format = "SRCH"
    OPTIONS = {k: v for k, v in RankingEngine.OPTIONS.items() if k != "reviewers"} | {"metrics": ["ndcg"]}
    metric = "ndcg"
