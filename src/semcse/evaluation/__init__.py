"""Evaluation: the semantic benchmark, SciRepEval's tasks and embedding diagnostics for any model.

Python API::

    from semcse.config import EvaluateConfig
    from semcse.evaluation import evaluate

    report = evaluate(EvaluateConfig(models=("path/to/model", "sentence-transformers/all-MiniLM-L6-v2"), out="eval"))
    report.scores()        # {model: {task: score}}
    report.scirepeval      # {"models": {model: {"CLF": ..., "RGN": ..., "PRX": ..., "SRCH": ..., "average": ...}}}

Layout:

- :mod:`~semcse.evaluation.specs`: benchmark files (packaged ``benchmarks/default.toml``) as
  :class:`Benchmark` / :class:`TaskSpec`; :mod:`~semcse.evaluation.data`: the data they read;
  :mod:`~semcse.evaluation.views`: texts of a paper;
- :mod:`~semcse.evaluation.engines`: one engine per task type, in a registry keyed by the task type;
- :mod:`~semcse.evaluation.loader`: :func:`load_benchmark`, above the specs, the data and the
  registry: it resolves each task's type in the registry and checks its options;
- :mod:`~semcse.evaluation.scirepeval`: SciRepEval's protocol and data layout;
- :mod:`~semcse.evaluation.metrics`, :mod:`~semcse.evaluation.diagnostics`: plain metric functions;
- :mod:`~semcse.evaluation.run`: :func:`evaluate`; :mod:`~semcse.evaluation.report`: rendering.
"""

from semcse.evaluation.errors import BenchmarkError
from semcse.evaluation.run import EvaluationReport, TaskResult, evaluate
from semcse.evaluation.loader import load_benchmark
from semcse.evaluation.specs import Benchmark, TaskSpec

__all__ = ["evaluate", "EvaluationReport", "TaskResult", "load_benchmark", "Benchmark", "TaskSpec", "BenchmarkError"]
