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
This module describes a benchmark and parses its tables; it imports no engine and no data
reader. A task names its engine by its ``type``, a string key: :mod:`semcse.evaluation.loader`
(which sits above the specs, the data layer and the engine registry) resolves it in the registry
(:mod:`semcse.evaluation.engines`) when the file is loaded.
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
    group: str = ""  # its engine's group (semantic, scirepeval): set from the engine registry when the file is loaded

    def to_dict(self) -> dict[str, Any]:
        """The task as the benchmark file gives it (without the group its engine implies)."""
        return {k: v for k, v in self.__dict__.items() if k != "group" and v not in (None, "", {})}


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


def read_benchmark_file(path: Path) -> dict[str, Any]:
    """The raw tables of a TOML or JSON benchmark file."""
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


def parse_dataset(src: str, name: str, d: Any) -> DatasetSpec:
    """A ``[datasets.NAME]`` table of file ``src`` as a :class:`DatasetSpec`."""
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


def parse_scirepeval(src: str, raw: Any) -> ScirepevalSource:
    """The ``[scirepeval]`` table of file ``src``."""
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
