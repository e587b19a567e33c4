"""Benchmark files: tasks described as data, apart from the engines that score them.

A benchmark is a TOML (or JSON) file with optional ``[defaults]``, named ``[datasets.NAME]``
(a file plus its field mapping: the keys of :class:`semcse.config.CorpusConfig`, with ``path`` for
its ``source``, plus ``label_names``), ``[[tasks]]`` (name, type, dataset or data file, pool size,
seed and type-specific options), ``[diagnostics]`` and ``[scirepeval]``:

.. code-block:: toml

    [scirepeval]
    data = "scirepeval_hf"             # "hub" (default), or a folder of copies saved with datasets'
                                       # save_to_disk, laid out as <folder>/<hub name>/<config>
    tasks = "scirepeval_tasks.jsonl"   # optional: SciRepEval's own task config, one task per line
    only = ["Fields of study", "MeSH"] # optional: only these of its tasks
    formats = ["classification"]       # optional: only these of its types

Paths are relative to a data root (``--data-root``, env ``SEMCSE_DATA``, or
``<repo>/../shared/data``) unless absolute. A user adds a corpus by writing such a file; no code.
Task types are looked up in the engine registry (:mod:`semcse.evaluation.engines`); this module
imports no engine.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from semcse.config import ConfigError, CorpusConfig
from semcse.evaluation.engines import engine_for
from semcse.evaluation.paper_table import COLUMNS as PAPER_COLUMNS
from semcse.evaluation.errors import BenchmarkError

DEFAULT_BENCHMARK = "default"
DATA_ENV = "SEMCSE_DATA"
TASK_KEYS = {"name", "type", "dataset", "data", "pool_size", "full_pool_size", "seed", "description", "enabled",
             "paper_column"}
CORPUS_KEYS = {f.name for f in dataclasses.fields(CorpusConfig)} - {"source", "allow_hub"}
DATASET_KEYS = CORPUS_KEYS | {"path", "label_names"}
DEFAULT_KEYS = {"pool_size", "full_pool_size", "seed"}
DIAGNOSTIC_KEYS = {"texts", "pairs", "enabled"}
SCIREPEVAL_KEYS = {"data", "tasks", "only", "formats"}
TOP_KEYS = {"name", "description", "version", "defaults", "datasets", "tasks", "diagnostics", "scirepeval"}


def default_data_root() -> Path:
    """``$SEMCSE_DATA`` or ``<repo>/../shared/data`` (the repo holding this source tree), else ``./data``."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[3]
    cand = repo.parent / "shared" / "data"
    return cand if cand.is_dir() else Path("data")


@dataclass
class DatasetSpec:
    """A ``[datasets.NAME]`` entry: how to read the papers (a :class:`CorpusConfig`) and label display names.

    ``corpus.source`` is the path as written in the benchmark (relative to the data root);
    ``format = "scirepeval_search"`` reads SciRepEval search rows as one paper per query.
    """

    name: str
    corpus: CorpusConfig
    label_names: str | None = None  # CSV (value,name) or TXT (line i names label i)

    @property
    def path(self) -> str:
        return self.corpus.source


@dataclass
class TaskSpec:
    """One task: what to score (type + options) on which data, with which pool and seed."""

    name: str
    type: str
    dataset: str | None = None
    data: str | None = None  # a file read by the engine itself (SciRepEval samples, triplets, search)
    pool_size: int | None = None
    full_pool_size: int | None = None
    seed: int = 0
    description: str = ""
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    paper_column: str | None = None  # its column in the SemCSE paper's table (Title, Segments, Query, Clustering)

    @property
    def group(self) -> str:
        return engine_for(self.type).group

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "", {})}


@dataclass
class ScirepevalSource:
    """The ``[scirepeval]`` table: where SciRepEval's hub datasets are read from, and its task config."""

    data: str = "hub"  # "hub" or a folder of save_to_disk copies: <folder>/<hub name>/<config>
    tasks: str | None = None  # their task config jsonl (scirepeval_tasks.jsonl format)
    only: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()


@dataclass
class Benchmark:
    """A parsed benchmark file."""

    name: str
    source: str
    datasets: dict[str, DatasetSpec]
    tasks: list[TaskSpec]
    diagnostics: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    scirepeval: ScirepevalSource = field(default_factory=ScirepevalSource)

    def task(self, name: str) -> TaskSpec:
        for t in self.tasks:
            if t.name == name:
                return t
        raise BenchmarkError(f"{self.source}: no task {name!r}; tasks are {[t.name for t in self.tasks]}")

    def select(self, names: tuple[str, ...] | list[str]) -> "Benchmark":
        """Only the named tasks (a name may also be a group: ``semantic`` or ``scirepeval``, or a type)."""
        if not names:
            return self
        chosen, unknown = [], []
        for n in names:
            hit = [t for t in self.tasks if n in (t.name, t.type, t.group)]
            if not hit:
                unknown.append(n)
            chosen += [t for t in hit if t not in chosen]
        if unknown:
            raise BenchmarkError(f"{self.source}: unknown task(s) {unknown}; tasks are {[t.name for t in self.tasks]} "
                                 "(or a group: semantic, scirepeval)")
        return dataclasses.replace(self, tasks=[t for t in self.tasks if t in chosen])


def _read_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise BenchmarkError(f"benchmark file not found: {path}") from exc
    try:
        if path.suffix.lower() == ".json":
            return json.loads(raw)
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"{path}: not a valid benchmark file: {exc}") from exc


def benchmark_path(name_or_path: str | None) -> Path:
    """A benchmark file path; a bare name (``default``) is looked up in the packaged benchmarks."""
    if not name_or_path:
        name_or_path = DEFAULT_BENCHMARK
    p = Path(name_or_path).expanduser()
    if p.suffix.lower() in (".toml", ".json") or p.exists():
        return p
    packaged = resources.files("semcse.evaluation") / "benchmarks" / f"{name_or_path}.toml"
    if not packaged.is_file():
        raise BenchmarkError(f"benchmark not found: {name_or_path!r} (neither a file nor a packaged benchmark)")
    return Path(str(packaged))


def _dataset_spec(src: str, name: str, d: Any) -> DatasetSpec:
    if not isinstance(d, dict) or "path" not in d:
        raise BenchmarkError(f"{src}: dataset {name!r}: needs a 'path'")
    bad = set(d) - DATASET_KEYS
    if bad:
        raise BenchmarkError(f"{src}: dataset {name!r}: unknown key(s) {sorted(bad)}; known: {sorted(DATASET_KEYS)}")
    fields = {k: v for k, v in d.items() if k in CORPUS_KEYS}
    try:
        corpus = CorpusConfig.from_dict({**fields, "source": str(d["path"]), "allow_hub": False})
    except ConfigError as exc:
        raise BenchmarkError(f"{src}: dataset {name!r}: {exc}") from None
    return DatasetSpec(name=name, corpus=corpus, label_names=d.get("label_names"))


def _scirepeval_source(src: str, raw: Any) -> ScirepevalSource:
    if not isinstance(raw, dict):
        raise BenchmarkError(f"{src}: [scirepeval] must be a table with keys {sorted(SCIREPEVAL_KEYS)}")
    bad = set(raw) - SCIREPEVAL_KEYS
    if bad:
        raise BenchmarkError(f"{src}: [scirepeval]: unknown key(s) {sorted(bad)}; known: {sorted(SCIREPEVAL_KEYS)}")
    for key in ("only", "formats"):
        v = raw.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise BenchmarkError(f"{src}: [scirepeval] {key} must be a list of strings, got {v!r}")
    for key in ("data", "tasks"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key]):
            raise BenchmarkError(f"{src}: [scirepeval] {key} must be a non-empty string, got {raw[key]!r}")
    return ScirepevalSource(data=raw.get("data", "hub"), tasks=raw.get("tasks"), only=tuple(raw.get("only", ())),
                            formats=tuple(raw.get("formats", ())))


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
        paper_column=common.get("paper_column"),
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
    raw = _read_file(path)
    src = str(path)
    unknown_top = set(raw) - TOP_KEYS
    if unknown_top:
        raise BenchmarkError(f"{src}: unknown top-level key(s) {sorted(unknown_top)}")
    defaults = raw.get("defaults", {})
    if set(defaults) - DEFAULT_KEYS:
        raise BenchmarkError(f"{src}: [defaults]: unknown key(s) {sorted(set(defaults) - DEFAULT_KEYS)}; known: {sorted(DEFAULT_KEYS)}")
    datasets = {name: _dataset_spec(src, name, d) for name, d in (raw.get("datasets") or {}).items()}
    scirepeval = _scirepeval_source(src, raw.get("scirepeval", {}))

    raw_tasks = [(f"{src}: task {t.get('name', f'#{i + 1}')!r}" if isinstance(t, dict) else f"{src}: task #{i + 1}", t)
                 for i, t in enumerate(raw.get("tasks") or [])]
    if scirepeval.tasks:
        from semcse.evaluation.scirepeval.layout import read_task_config

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
