"""The data a benchmark reads: paths against the data root, corpora read once (SciRepEval's search
rows as a corpus among them), content hashes, and SciRepEval's hub datasets (from the hub or from
copies saved with ``datasets``' ``save_to_disk``).

The data layer sits above the specs (:mod:`semcse.evaluation.specs`) and below the engines and
SciRepEval's task readers (:mod:`semcse.evaluation.scirepeval.layout`): it imports neither."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semcse.corpus import (
    Corpus, CorpusError, CorpusReport, Paper, RowIssue, load_corpus, read_jsonl, text_and_sentences,
)
from semcse.evaluation.errors import BenchmarkError
from semcse.evaluation.specs import DATA_ENV, Benchmark, DatasetSpec, TaskSpec, default_data_root
from semcse.evaluation.views import PaperViews

log = logging.getLogger(__name__)


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
        self._hub: dict[str, tuple[Any, DataFile]] = {}

    def resolve(self, rel: str, where: str) -> Path:
        p = Path(rel).expanduser()
        if not p.is_absolute():
            p = self.data_root / p
        if not p.exists():
            hint = "" if self.data_root.is_dir() else f" (data root {self.data_root} does not exist: set --data-root or ${DATA_ENV})"
            raise BenchmarkError(f"{where}: data file not found: {p}{hint}")
        return p

    def shown(self, path: Path) -> str:
        """``path`` relative to the data root where it lies inside it."""
        try:
            return str(path.relative_to(self.data_root))
        except ValueError:
            return str(path)

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
        return DataFile(self.shown(path), self._hashes[key])

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
            if spec.corpus.format == "scirepeval_search":
                corpus = search_queries_corpus(path)
            else:
                # title_from_first_sentence is applied lazily per pooled paper (see PaperViews): splitting
                # every abstract of a large corpus up front costs more than encoding a pool of it
                cfg = spec.corpus.replace(
                    source=str(path), title_from_first_sentence=False, allow_hub=False,
                    keep_fields=tuple(dict.fromkeys(spec.corpus.keep_fields + tuple(extra_fields))),
                )
                corpus = load_corpus(cfg, warn_each=False)  # one summary line below instead of a warning per row
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

    def views(self, name: str) -> PaperViews:
        """The view accessor for papers of ``[datasets.NAME]``."""
        return PaperViews(self.benchmark.datasets[name].corpus.title_from_first_sentence)

    def data_files(self, spec: TaskSpec) -> list[DataFile]:
        out = []
        if spec.dataset:
            out.append(self.file(self.resolve(self.benchmark.datasets[spec.dataset].path, spec.name)))
        if spec.data:
            out.append(self.file(self.resolve(spec.data, spec.name)))
        return out

    # ---- SciRepEval's hub datasets ------------------------------------------------------------

    def hub_dataset(self, name: str, config: str, where: str, split: str | None = None) -> tuple[Any, DataFile]:
        """``datasets.load_dataset(name, config, split=split)`` and its data file entry.

        With ``[scirepeval] data = "hub"`` it comes from the hub (network; only ``split`` when given,
        as their ``SimpleDataset`` loads ``split="evaluation"``); with a folder it is the copy saved
        there with ``save_to_disk`` as ``<folder>/<name>/<config>`` (a ``DatasetDict`` or one split).
        """
        source = self.benchmark.scirepeval.data
        key = f"{name}|{config}|{split if source == 'hub' else ''}"
        if key in self._hub:
            return self._hub[key]
        import datasets

        if source == "hub":
            try:
                loaded = datasets.load_dataset(name, config, split=split)
            except Exception as exc:  # network, unknown config, ...: one clear line instead of a traceback
                raise BenchmarkError(
                    f"{where}: could not load {name} config {config!r}{f' split {split!r}' if split else ''} from the hub ({type(exc).__name__}: {exc}). "
                    f"Offline, save a copy once with datasets.load_dataset({name!r}, {config!r}).save_to_disk("
                    f"'DIR/{name}/{config}') and set `data = \"DIR\"` in the benchmark's [scirepeval] table") from None
            fingerprint = hashlib.sha256(json.dumps(
                {split: getattr(ds, "_fingerprint", "") for split, ds in _splits(loaded).items()}, sort_keys=True).encode())
            entry = DataFile(f"hub:{name}/{config}", fingerprint.hexdigest())
        else:
            root = self.resolve(source, f"{where}: [scirepeval] data")
            path = root / name / config
            if not path.is_dir():
                raise BenchmarkError(f"{where}: {path} not found: [scirepeval] data = {source!r} needs {name} config "
                                     f"{config!r} saved there with datasets' save_to_disk ({name}/{config} under it)")
            try:
                loaded = datasets.load_from_disk(str(path))
            except (FileNotFoundError, ValueError) as exc:
                raise BenchmarkError(f"{where}: {path}: not a dataset saved with save_to_disk ({exc})") from None
            entry = self.file(path)
        self._hub[key] = (loaded, entry)
        return loaded, entry


def _splits(loaded: Any) -> dict[str, Any]:
    """``{split: Dataset}`` of a ``DatasetDict``; a single ``Dataset`` as ``{"": dataset}``."""
    return dict(loaded) if isinstance(loaded, dict) else {"": loaded}


def hub_split(loaded: Any, split: str, where: str, what: str) -> Any:
    """Split ``split`` of a loaded hub dataset (a single saved ``Dataset`` stands for any split)."""
    splits = _splits(loaded)
    if "" in splits:
        return splits[""]
    if split not in splits:
        raise BenchmarkError(f"{where}: {what} has splits {sorted(splits)}, not {split!r}")
    return splits[split]


# ---- SciRepEval's search rows as a corpus (``format = "scirepeval_search"``) -------------------


def search_queries_corpus(path: Path) -> Corpus:
    """SciRepEval ad-hoc search rows ``{query, candidates: [{corpus_id|doc_id, title, abstract, score}]}`` as papers.

    Each query becomes the most relevant candidate paper (highest score, first on ties) with the
    query text in ``extra["query"]`` (a list: several queries may share a paper). Queries without a
    relevant (score > 0) candidate are reported and skipped.
    """
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
        abstract, sents = text_and_sentences(best.get("abstract"))
        title, _ = text_and_sentences(best.get("title"))
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
