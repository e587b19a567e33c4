"""Benchmark files: tasks described as data, apart from the engines that score them.

A benchmark is a TOML (or JSON) file with optional ``[defaults]``, named ``[datasets.NAME]``
(a file plus its field mapping, read with :func:`semcse.corpus.load_corpus`), ``[[tasks]]``
(name, type, dataset or data file, pool size, seed and type-specific options) and
``[diagnostics]``. Paths are relative to a data root (``--data-root``, env ``SEMCSE_DATA``, or
``<repo>/../shared/data``) unless absolute. A user adds a corpus by writing such a file; no code.

Task types and their engines: ``matching`` and ``clustering`` (:mod:`semcse.evaluation.semantic`),
``classification``, ``regression``, ``proximity`` and ``search`` (:mod:`semcse.evaluation.scirepeval`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Sequence

from semcse.corpus import Corpus, CorpusError, Paper, load_corpus
from semcse.config import CorpusConfig

log = logging.getLogger(__name__)

DEFAULT_BENCHMARK = "default"
DATA_ENV = "SEMCSE_DATA"
TASK_KEYS = {"name", "type", "dataset", "data", "pool_size", "full_pool_size", "seed", "description", "enabled"}
DATASET_KEYS = {"path", "format", "split", "id_field", "title_field", "abstract_field", "label_field",
                "title_from_first_sentence", "keep_fields", "label_names", "limit", "max_abstract_chars"}
DEFAULT_KEYS = {"pool_size", "full_pool_size", "seed"}
DIAGNOSTIC_KEYS = {"texts", "pairs", "enabled"}


class BenchmarkError(ValueError):
    """A benchmark file or task that cannot be used; the message names the file, the task and the problem."""


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
    """A data file and how its fields map onto papers (the :class:`CorpusConfig` fields, plus label names)."""

    name: str
    path: str
    format: str | None = None  # corpus formats, or "scirepeval_search" (queries -> their most relevant paper)
    split: str | None = None
    id_field: str | None = None
    title_field: str | None = None
    abstract_field: str | None = None
    label_field: str | None = None
    title_from_first_sentence: bool = False
    keep_fields: tuple[str, ...] = ()
    label_names: str | None = None  # CSV (value,name) or TXT (line i names label i)
    limit: int | None = None
    max_abstract_chars: int = 20_000


@dataclass
class TaskSpec:
    """One task: what to score (type + options) on which data, with which pool and seed."""

    name: str
    type: str
    dataset: str | None = None
    data: str | None = None  # a file read by the engine itself (SciRepEval triplets, search, meta)
    pool_size: int | None = None
    full_pool_size: int | None = None
    seed: int = 0
    description: str = ""
    enabled: bool = True
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def group(self) -> str:
        return engine_for(self.type).group

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if v not in (None, "", {})}
        return d


@dataclass
class Benchmark:
    """A parsed benchmark file."""

    name: str
    source: str
    datasets: dict[str, DatasetSpec]
    tasks: list[TaskSpec]
    diagnostics: dict[str, Any] = field(default_factory=dict)
    description: str = ""

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
        return Benchmark(self.name, self.source, self.datasets, [t for t in self.tasks if t in chosen], self.diagnostics,
                         self.description)


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


def load_benchmark(name_or_path: str | Path | None = None) -> Benchmark:
    """Parse and validate a benchmark file (or a packaged one by name; default ``default``).

    Raises :class:`BenchmarkError` naming the file and task for unknown keys, types, options or
    datasets, duplicate task names and bad pool sizes. Data files are not opened here.
    """
    path = benchmark_path(str(name_or_path) if name_or_path else None)
    raw = _read_file(path)
    src = str(path)
    unknown_top = set(raw) - {"name", "description", "version", "defaults", "datasets", "tasks", "diagnostics"}
    if unknown_top:
        raise BenchmarkError(f"{src}: unknown top-level key(s) {sorted(unknown_top)}")
    defaults = raw.get("defaults", {})
    if set(defaults) - DEFAULT_KEYS:
        raise BenchmarkError(f"{src}: [defaults]: unknown key(s) {sorted(set(defaults) - DEFAULT_KEYS)}; known: {sorted(DEFAULT_KEYS)}")
    datasets: dict[str, DatasetSpec] = {}
    for dname, d in (raw.get("datasets") or {}).items():
        if not isinstance(d, dict) or "path" not in d:
            raise BenchmarkError(f"{src}: dataset {dname!r}: needs a 'path'")
        bad = set(d) - DATASET_KEYS
        if bad:
            raise BenchmarkError(f"{src}: dataset {dname!r}: unknown key(s) {sorted(bad)}; known: {sorted(DATASET_KEYS)}")
        d = dict(d)
        d["keep_fields"] = tuple(d.get("keep_fields", ()))
        datasets[dname] = DatasetSpec(name=dname, **d)
    tasks: list[TaskSpec] = []
    for i, t in enumerate(raw.get("tasks") or []):
        where = f"{src}: task {t.get('name', f'#{i + 1}')!r}"
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
        if not common.get("dataset") and not common.get("data"):
            raise BenchmarkError(f"{where}: needs 'dataset' (a [datasets] entry) or 'data' (a file)")
        spec = TaskSpec(
            name=str(t["name"]), type=str(t["type"]), dataset=common.get("dataset"), data=common.get("data"),
            pool_size=common.get("pool_size", defaults.get("pool_size")) if engine.POOLED else None,
            full_pool_size=common.get("full_pool_size", defaults.get("full_pool_size")) if engine.POOLED else None,
            seed=int(common.get("seed", defaults.get("seed", 0))), description=common.get("description", ""),
            enabled=bool(common.get("enabled", True)), options={**engine.OPTIONS, **options},
        )
        for key in ("pool_size", "full_pool_size"):
            v = getattr(spec, key)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise BenchmarkError(f"{where}: {key} must be a positive integer, got {v!r}")
        if any(x.name == spec.name for x in tasks):
            raise BenchmarkError(f"{where}: duplicate task name")
        engine.validate(spec, where)
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
                     description=raw.get("description", ""))


def engine_for(task_type: str):
    """The engine class scoring a task type."""
    from semcse.evaluation import scirepeval, semantic

    engines = {**semantic.ENGINES, **scirepeval.ENGINES}
    if task_type not in engines:
        raise BenchmarkError(f"unknown task type {task_type!r}; types are {sorted(engines)}")
    return engines[task_type]


# ---- data access shared by the engines -------------------------------------------------------


@dataclass
class DataFile:
    """A data file a result depends on, with its content hash."""

    path: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "sha256": self.sha256}


class DataContext:
    """Resolves paths against the data root, reads datasets once and hashes files once."""

    def __init__(self, benchmark: Benchmark, data_root: str | Path | None = None):
        self.benchmark = benchmark
        self.data_root = Path(data_root).expanduser() if data_root else default_data_root()
        self._corpora: dict[str, Corpus] = {}
        self._hashes: dict[str, str] = {}

    def resolve(self, rel: str, where: str) -> Path:
        p = Path(rel).expanduser()
        if not p.is_absolute():
            p = self.data_root / p
        if not p.exists():
            hint = "" if self.data_root.is_dir() else f" (data root {self.data_root} does not exist: set --data-root or ${DATA_ENV})"
            raise BenchmarkError(f"{where}: data file not found: {p}{hint}")
        return p

    def file(self, path: Path) -> DataFile:
        key = str(path)
        if key not in self._hashes:
            h = hashlib.sha256()
            files = sorted(x for x in path.rglob("*") if x.is_file()) if path.is_dir() else [path]
            for f in files:
                with f.open("rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        h.update(chunk)
            self._hashes[key] = h.hexdigest()
        try:
            shown = str(path.relative_to(self.data_root))
        except ValueError:
            shown = str(path)
        return DataFile(shown, self._hashes[key])

    def dataset_spec(self, name: str) -> DatasetSpec:
        return self.benchmark.datasets[name]

    def corpus(self, name: str, where: str, extra_fields: tuple[str, ...] = ()) -> Corpus:
        """The papers of ``[datasets.NAME]`` (read once per run)."""
        spec = self.benchmark.datasets[name]
        key = f"{name}|{','.join(sorted(extra_fields))}"
        if key in self._corpora:
            return self._corpora[key]
        path = self.resolve(spec.path, f"{where}: dataset {name!r}")
        try:
            if spec.format == "scirepeval_search":
                corpus = search_queries_corpus(path)
            else:
                # title_from_first_sentence is applied lazily per pooled paper (see PaperViews): splitting
                # every abstract of a large corpus up front costs more than encoding a pool of it
                cfg = CorpusConfig(
                    source=str(path), format=spec.format, split=spec.split, id_field=spec.id_field,
                    title_field=spec.title_field, abstract_field=spec.abstract_field, label_field=spec.label_field,
                    title_from_first_sentence=False, limit=spec.limit,
                    keep_fields=tuple(dict.fromkeys(spec.keep_fields + tuple(extra_fields))),
                    max_abstract_chars=spec.max_abstract_chars, allow_hub=False,
                )
                corpus_log = logging.getLogger("semcse.corpus")
                level = corpus_log.level
                corpus_log.setLevel(logging.ERROR)  # one summary line below instead of a warning per row
                try:
                    corpus = load_corpus(cfg)
                finally:
                    corpus_log.setLevel(level)
        except CorpusError as exc:
            raise BenchmarkError(f"{where}: dataset {name!r}: {exc}") from exc
        if corpus.report.issues:
            log.info("dataset %s: %s", name, "; ".join(corpus.report.summary_lines(max_examples=2)))
        missing = [f for f in extra_fields if not any(f in p.extra for p in corpus.papers)]
        if missing:
            raise BenchmarkError(f"{where}: dataset {name!r} ({path}): field(s) {missing} not found in any row")
        self._corpora[key] = corpus
        return corpus

    def label_names(self, name: str, where: str) -> dict[str, str]:
        """Display names of label values from ``label_names`` (CSV value,name or TXT one per line), if given."""
        spec = self.benchmark.datasets[name]
        if not spec.label_names:
            return {}
        path = self.resolve(spec.label_names, f"{where}: dataset {name!r} label_names")
        lines = [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
        if path.suffix.lower() in (".csv", ".tsv"):
            import csv

            rows = list(csv.reader(lines, delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
            if rows and len(rows[0]) >= 2 and not rows[0][0].strip().lstrip("-").isdigit():
                rows = rows[1:]  # header
            return {r[0].strip(): r[1].strip() for r in rows if len(r) >= 2}
        return {str(i): l.strip() for i, l in enumerate(lines)}

    def views(self, name: str) -> "PaperViews":
        """The view accessor for papers of ``[datasets.NAME]``."""
        return PaperViews(self.benchmark.datasets[name].title_from_first_sentence)

    def data_files(self, spec: TaskSpec) -> list[DataFile]:
        out = []
        if spec.dataset:
            out.append(self.file(self.resolve(self.benchmark.datasets[spec.dataset].path, spec.name)))
        if spec.data:
            out.append(self.file(self.resolve(spec.data, spec.name)))
        return out


def search_queries_corpus(path: Path) -> Corpus:
    """SciRepEval ad-hoc search rows ``{query, candidates: [{corpus_id|doc_id, title, abstract, score}]}`` as papers.

    Each query becomes the most relevant candidate paper (highest score, first on ties) with the
    query text in ``extra["query"]`` (a list: several queries may share a paper). Queries without a
    relevant (score > 0) candidate are reported and skipped.
    """
    from semcse.corpus import CorpusReport, Paper, RowIssue, _as_text, read_jsonl

    rows = read_jsonl(path) if path.suffix.lower() != ".json" or path.read_bytes()[:1] != b"[" else json.loads(path.read_text())
    report = CorpusReport(source=str(path))
    papers: dict[str, Paper] = {}
    for i, row in enumerate(rows, start=1):
        report.rows_read += 1
        q = str(row.get("query") or "").strip()
        cands = [c for c in row.get("candidates") or [] if float(c.get("score", 0) or 0) > 0]
        if not q or not cands:
            report.add(RowIssue(str(path), i, "no_query_or_relevant_candidate", "skipped"))
            continue
        best = max(cands, key=lambda c: float(c.get("score", 0)))  # max() keeps the first of equals
        pid = str(best.get("corpus_id", best.get("doc_id", "")))
        abstract, sents = _as_text(best.get("abstract"))
        title, _ = _as_text(best.get("title"))
        if not pid or not (abstract or title):
            report.add(RowIssue(str(path), i, "relevant_candidate_without_id_or_text", "skipped"))
            continue
        if pid in papers:
            papers[pid].extra["query"].append(q)
            continue
        papers[pid] = Paper(id=pid, title=title, abstract=abstract or "", sentences=sents, extra={"query": [q]})
    if not papers:
        raise CorpusError(f"{path}: no query with a relevant candidate")
    report.papers = len(papers)
    return Corpus(list(papers.values()), report)


# ---- what engines share ----------------------------------------------------------------------


class TaskSkipped(Exception):
    """A task that cannot run in this configuration for a benign reason (e.g. no generated queries given)."""


@dataclass
class Prepared:
    """A task made concrete, independent of any model: the text lists to encode and what scoring needs.

    ``texts`` maps a role (``queries``, ``candidates``, ``texts``, ...) to the texts to encode;
    ``data`` holds targets, labels or relevance; ``pool_size`` is the number of candidates / items.
    """

    spec: TaskSpec
    texts: dict[str, list[str]]
    data: dict[str, Any]
    pool_size: int
    files: list[DataFile]
    info: dict[str, Any] = field(default_factory=dict)


class Engine:
    """Scores one task type. Subclasses set the class attributes and implement prepare/score."""

    type: str = ""
    group: str = ""  # "semantic" | "scirepeval"
    POOLED: bool = False  # uses pool_size / full_pool_size
    OPTIONS: dict[str, Any] = {}
    metric: str = ""
    higher_is_better: bool = True

    @classmethod
    def validate(cls, spec: TaskSpec, where: str) -> None:
        """Check option values at load time (raise :class:`BenchmarkError`)."""

    @classmethod
    def prepare(cls, spec: TaskSpec, ctx: DataContext, pool_size: int | None) -> Prepared:
        raise NotImplementedError

    @classmethod
    def score(cls, prepared: Prepared, embeddings: dict[str, Any], distance) -> dict[str, Any]:
        raise NotImplementedError


def sample_pool(items: Sequence[Any], size: int | None, seed: int, make: Callable[[Any], Any]) -> list[Any]:
    """A seeded pool of up to ``size`` usable items, in input order, computing ``make(item)`` only as needed.

    Items are visited in the order of one seeded permutation; ``make`` returns the pooled value or
    ``None`` for an unusable item; the first ``size`` usable ones form the pool. So the pool depends
    only on the data and the seed (never on a model), and with the same seed a smaller pool is a
    subset of a larger one. ``size=None`` pools every usable item.
    """
    import numpy as np

    order = range(len(items)) if size is None else np.random.default_rng(seed).permutation(len(items))
    chosen: list[tuple[int, Any]] = []
    for i in order:
        value = make(items[int(i)])
        if value is not None:
            chosen.append((int(i), value))
            if size is not None and len(chosen) >= size:
                break
    return [v for _, v in sorted(chosen, key=lambda x: x[0])]


BASE_VIEWS = ("title", "abstract", "text", "first_half", "second_half", "generated")


def check_view(view: Any, where: str, what: str) -> None:
    """Raise :class:`BenchmarkError` unless ``view`` names a view."""
    if not isinstance(view, str) or not (view in BASE_VIEWS or (view.startswith("field:") and len(view) > 6)):
        raise BenchmarkError(f"{where}: {what} = {view!r} is not a view; use one of {list(BASE_VIEWS)} or field:NAME")


class PaperViews:
    """Texts of a paper by view name.

    Views: ``title``, ``abstract``, ``text`` (title + abstract), ``first_half`` / ``second_half``
    (the abstract split by sentences: the first ceil(n/2) sentences and the rest), ``field:NAME``
    (a string or list of strings kept from the data), ``generated`` (texts of a summaries run, by
    paper id). With ``first_sentence_title`` (e.g. PubMed dumps) the first sentence of the abstract
    is the title and the rest the abstract, split per paper on first use; ``text`` is then the
    record as written.
    """

    def __init__(self, first_sentence_title: bool = False, min_sentences: int = 2):
        self.first_sentence_title = first_sentence_title
        self.min_sentences = min_sentences
        self._parts: dict[int, tuple[str | None, str, list[str] | None]] = {}

    def parts(self, paper: Paper) -> tuple[str | None, str, list[str] | None]:
        """(title, abstract, sentences or None) after the first-sentence rule."""
        if not self.first_sentence_title or paper.title:
            return paper.title, paper.abstract, paper.sentences
        key = id(paper)
        if key not in self._parts:
            self._parts[key] = _first_sentence_split(paper)
        return self._parts[key]

    def texts(self, paper: Paper, view: str, generated: dict[str, list[str]] | None = None) -> list[str]:
        """The texts of one view of a paper (empty when the paper does not have it)."""
        if view == "text":
            out = [paper.abstract if self.first_sentence_title and not paper.title else join_title_abstract(paper.title, paper.abstract)]
        elif view == "generated":
            out = list((generated or {}).get(paper.id, []))
        elif view.startswith("field:"):
            value = paper.extra.get(view[6:])
            if isinstance(value, (list, tuple)):
                out = [str(v) for v in value if v is not None]
            else:
                out = [] if value is None else [str(value)]
        else:
            title, abstract, sentences = self.parts(paper)
            if view == "title":
                out = [title] if title else []
            elif view == "abstract":
                out = [abstract]
            elif view in ("first_half", "second_half"):
                from semcse.sentences import split_sentences

                sents = sentences or split_sentences(abstract)
                if len(sents) < max(2, self.min_sentences):
                    out = []
                else:
                    cut = (len(sents) + 1) // 2
                    out = [" ".join(sents[:cut]) if view == "first_half" else " ".join(sents[cut:])]
            else:
                raise ValueError(f"unknown view {view!r}")
        return [t.strip() for t in out if t and t.strip()]


def join_title_abstract(title: str | None, abstract: str | None) -> str:
    """``title. abstract`` (no second period when the title already ends with punctuation)."""
    title, abstract = (title or "").strip(), (abstract or "").strip()
    if title and abstract:
        return f"{title} {abstract}" if title[-1] in ".?!:;" else f"{title}. {abstract}"
    return title or abstract


def _first_sentence_split(paper: Paper) -> tuple[str | None, str, list[str] | None]:
    """Title = first sentence (pysbd), abstract = the rest; like ``title_from_first_sentence`` in load_corpus.

    Only a prefix of the text is segmented when the first sentence ends inside it (same result,
    a fraction of the cost); otherwise the whole abstract is.
    """
    from semcse.sentences import split_sentences

    if paper.sentences:
        sents = paper.sentences
    else:
        norm = " ".join(paper.abstract.split())
        head = split_sentences(norm[:1500])
        if len(head) > 1 and norm.startswith(head[0]):
            rest = norm[len(head[0]):].strip()
            return head[0], rest, None
        sents = split_sentences(norm)
    if len(sents) < 2:
        return None, " ".join(sents), list(sents)
    return sents[0], " ".join(sents[1:]), list(sents[1:])
