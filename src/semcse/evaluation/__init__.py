"""Evaluation: the semantic benchmark, SciRepEval-format tasks and embedding diagnostics for any model.

Python API::

    from semcse.config import EvaluateConfig
    from semcse.evaluation import evaluate

    report = evaluate(EvaluateConfig(models=("path/to/model", "sentence-transformers/all-MiniLM-L6-v2"), out="eval"))
    report.scores()        # {model: {task: score}}

Tasks are data (:mod:`semcse.evaluation.tasks`, packaged ``benchmarks/default.toml``); the
engines that score them are in :mod:`~semcse.evaluation.semantic` and
:mod:`~semcse.evaluation.scirepeval`; metrics in :mod:`~semcse.evaluation.metrics`,
diagnostics in :mod:`~semcse.evaluation.diagnostics`, rendering in :mod:`~semcse.evaluation.report`.
"""

from semcse.evaluation.run import EvaluationReport, TaskResult, evaluate
from semcse.evaluation.tasks import Benchmark, BenchmarkError, TaskSpec, load_benchmark

__all__ = ["evaluate", "EvaluationReport", "TaskResult", "load_benchmark", "Benchmark", "TaskSpec", "BenchmarkError"]
