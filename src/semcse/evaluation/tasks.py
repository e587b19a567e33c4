"""Former home of the benchmark specs, data access and engine base (before they got their own
modules); kept so that ``from semcse.evaluation.tasks import ...`` goes on working.

- specs: :mod:`semcse.evaluation.specs`; loading: :mod:`semcse.evaluation.loader`
- data: :mod:`semcse.evaluation.data`; paper views: :mod:`semcse.evaluation.views`
- engines and their registry: :mod:`semcse.evaluation.engines`
"""

from semcse.evaluation.data import DataContext, DataFile, search_queries_corpus
from semcse.evaluation.engines import engine_for
from semcse.evaluation.engines.base import Engine, Prepared, sample_pool
from semcse.evaluation.errors import BenchmarkError, TaskSkipped
from semcse.evaluation.loader import load_benchmark
from semcse.evaluation.specs import (
    DATA_ENV, DEFAULT_BENCHMARK, Benchmark, DatasetSpec, TaskSpec, benchmark_path, default_data_root,
)
from semcse.evaluation.views import BASE_VIEWS, PaperViews, check_view, join_title_abstract

__all__ = [
    "BASE_VIEWS", "DATA_ENV", "DEFAULT_BENCHMARK", "Benchmark", "BenchmarkError", "DataContext", "DataFile", "DatasetSpec",
    "Engine", "PaperViews", "Prepared", "TaskSkipped", "TaskSpec", "benchmark_path", "check_view", "default_data_root",
    "engine_for", "join_title_abstract", "load_benchmark", "sample_pool", "search_queries_corpus",
]
