"""Loading a benchmark file: its tables parsed by :mod:`~semcse.evaluation.specs`, each task's type
resolved in the engine registry and its options checked by that engine.

This module sits above the specs, the data layer and the registry: specs name their engine by a
string key (the task ``type``) and import neither the registry nor any data reader; the registry
(:mod:`semcse.evaluation.engines`) loads the engines, which read data through
:mod:`semcse.evaluation.data`; SciRepEval's task config becomes tasks through
:mod:`semcse.evaluation.scirepeval.layout`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semcse.evaluation.engines import engine_for
from semcse.evaluation.errors import BenchmarkError
from semcse.evaluation.paper_table import COLUMNS as PAPER_COLUMNS
from semcse.evaluation.scirepeval.layout import read_task_config
from semcse.evaluation.specs import (
    DEFAULT_KEYS, DIAGNOSTIC_KEYS, TASK_KEYS, TOP_KEYS, Benchmark, DatasetSpec, TaskSpec, benchmark_path,
    default_data_root, parse_dataset, parse_scirepeval, read_benchmark_file,
)

__all__ = ["load_benchmark"]


def _task_spec(where: str, t: dict[str, Any], defaults: dict[str, Any], datasets: dict[str, DatasetSpec]) -> TaskSpec:
    if "name" not in t or "type" not in t:
        raise BenchmarkError(f"{where}: every task needs a 'name' and a 'type'")
    try:
        engine = engine_for(t["type"])
    except BenchmarkError as exc:
        raise BenchmarkError(f"{where}: {exc}") from None
    common = {k: v for k, v in t.items() if k in TASK_KEYS}
    options = {k: v for k, v in t.items() if k not in TASK_KEYS}
    bad = set(options) - set(engine.OPTIONS)
    if bad:
        raise BenchmarkError(f"{where}: unknown option(s) {sorted(bad)} for type {t['type']!r}; "
                             f"known: {sorted(TASK_KEYS | set(engine.OPTIONS))}")
    if common.get("dataset") and common["dataset"] not in datasets:
        raise BenchmarkError(f"{where}: dataset {common['dataset']!r} is not defined; datasets are {sorted(datasets)}")
    if not common.get("dataset") and not common.get("data") and not options.get("meta"):
        raise BenchmarkError(f"{where}: needs 'dataset' (a [datasets] entry), 'data' (a file) or 'meta' (SciRepEval data)")
    spec = TaskSpec(
        name=str(t["name"]), type=str(t["type"]), dataset=common.get("dataset"), data=common.get("data"),
        pool_size=common.get("pool_size", defaults.get("pool_size")) if engine.POOLED else None,
        full_pool_size=common.get("full_pool_size", defaults.get("full_pool_size")) if engine.POOLED else None,
        seed=int(common.get("seed", defaults.get("seed", 0))), description=common.get("description", ""),
        enabled=bool(common.get("enabled", True)), options={**engine.OPTIONS, **options},
        paper_column=common.get("paper_column"), group=engine.group,
    )
    if spec.paper_column is not None and spec.paper_column not in PAPER_COLUMNS:
        raise BenchmarkError(f"{where}: paper_column must be one of {list(PAPER_COLUMNS)}, got {spec.paper_column!r}")
    for key in ("pool_size", "full_pool_size"):
        v = getattr(spec, key)
        if v is not None and (not isinstance(v, int) or v < 1):
            raise BenchmarkError(f"{where}: {key} must be a positive integer, got {v!r}")
    engine.validate(spec, where)
    return spec


def load_benchmark(name_or_path: str | Path | None = None, data_root: str | Path | None = None) -> Benchmark:
    """Parse and validate a benchmark file (or a packaged one by name; default ``default``).

    Raises :class:`BenchmarkError` naming the file and task for unknown keys, types, options or
    datasets, duplicate task names and bad pool sizes. Data files are not opened here, except
    SciRepEval's task config (``[scirepeval] tasks``, relative to ``data_root``), whose lines
    become tasks.
    """
    path = benchmark_path(str(name_or_path) if name_or_path else None)
    raw = read_benchmark_file(path)
    src = str(path)
    unknown_top = set(raw) - TOP_KEYS
    if unknown_top:
        raise BenchmarkError(f"{src}: unknown top-level key(s) {sorted(unknown_top)}")
    defaults = raw.get("defaults", {})
    if set(defaults) - DEFAULT_KEYS:
        raise BenchmarkError(f"{src}: [defaults]: unknown key(s) {sorted(set(defaults) - DEFAULT_KEYS)}; known: {sorted(DEFAULT_KEYS)}")
    datasets = {name: parse_dataset(src, name, d) for name, d in (raw.get("datasets") or {}).items()}
    scirepeval = parse_scirepeval(src, raw.get("scirepeval", {}))

    raw_tasks = [(f"{src}: task {t.get('name', f'#{i + 1}')!r}" if isinstance(t, dict) else f"{src}: task #{i + 1}", t)
                 for i, t in enumerate(raw.get("tasks") or [])]
    if scirepeval.tasks:
        root = Path(data_root).expanduser() if data_root else default_data_root()
        config_path = Path(scirepeval.tasks).expanduser()
        config_path = config_path if config_path.is_absolute() else root / config_path
        raw_tasks += read_task_config(config_path, only=scirepeval.only, formats=scirepeval.formats,
                                      where=f"{src}: [scirepeval] tasks")
    tasks: list[TaskSpec] = []
    for where, t in raw_tasks:
        if not isinstance(t, dict):
            raise BenchmarkError(f"{where}: a task must be a table, got {t!r}")
        spec = _task_spec(where, t, defaults, datasets)
        if any(x.name == spec.name for x in tasks):
            raise BenchmarkError(f"{where}: duplicate task name")
        tasks.append(spec)
    if not tasks:
        raise BenchmarkError(f"{src}: no [[tasks]]")
    diag = dict(raw.get("diagnostics") or {})
    if set(diag) - DIAGNOSTIC_KEYS:
        raise BenchmarkError(f"{src}: [diagnostics]: unknown key(s) {sorted(set(diag) - DIAGNOSTIC_KEYS)}")
    names = {t.name for t in tasks}
    for key in ("texts", "pairs"):
        if diag.get(key) and diag[key] not in names:
            raise BenchmarkError(f"{src}: [diagnostics] {key} = {diag[key]!r} is not a task; tasks are {sorted(names)}")
    return Benchmark(name=raw.get("name", path.stem), source=src, datasets=datasets, tasks=tasks, diagnostics=diag,
                     description=raw.get("description", ""), scirepeval=scirepeval)
