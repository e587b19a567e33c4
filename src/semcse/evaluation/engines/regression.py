"""SciRepEval regression (format RGN): their linear regression probe (LinearSVR, no intercept, 3-fold
grid over C) on frozen embeddings, Kendall tau x 100 of the test predictions.

Data as for :mod:`~semcse.evaluation.engines.classification` (``meta`` + ``test`` in SciRepEval's
layout, or sample files), with numeric labels.
"""

from __future__ import annotations

from semcse.evaluation.engines import register
from semcse.evaluation.engines.classification import ClassificationEngine


@register
class RegressionEngine(ClassificationEngine):
    """SciRepEval's regression probe; the score is its first ``metrics`` entry (default ``kendalltau``)."""

    type = "regression"
    format = "RGN"
    OPTIONS = {k: v for k, v in ClassificationEngine.OPTIONS.items() if k != "multi_label"} | {"metrics": ["kendalltau"]}
    metric = "kendalltau"
    kind = "regression"
