"""Paper corpora: one record type, readers for the formats users bring, and a validation report.

A :class:`Paper` is ``{id, title, abstract}`` plus optional ``labels`` and extra fields.
:func:`load_corpus` reads JSONL, CSV/TSV, Parquet, a Hugging Face ``datasets`` directory saved
with ``save_to_disk`` or a hub dataset id, maps field names, and reports every row it skips or
changes (file, row, reason) in a :class:`CorpusReport` instead of failing the whole run.
"""

from __future__ import annotations

import csv
import json
import re
import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from semcse.config import CorpusConfig

log = logging.getLogger(__name__)

ID_FIELDS = ("id", "paper_id", "doc_id", "corpus_id", "corpusid", "abstract_id", "pmid", "paperId")
TITLE_FIELDS = ("title", "paper_title")
ABSTRACT_FIELDS = ("abstract", "source", "sentences", "paperAbstract", "medical_abstract", "text")
LABEL_FIELDS = ("labels", "label", "condition_label", "fos", "fields_of_study")

ROW_NUMBER_ID = "@row"
FIRST_SENTENCE_TITLE = "@first_sentence"


class CorpusError(ValueError):
    """A corpus that cannot be read at all (missing file, unknown format, unmapped field)."""


@dataclass
class Paper:
    """One paper. ``abstract`` is always a string; ``sentences`` is kept when the source had them."""

    id: str
    title: str | None
    abstract: str
    sentences: list[str] | None = None
    labels: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Title and abstract as one document (see :func:`join_title_abstract`)."""
        return join_title_abstract(self.title, self.abstract)


PAPER_SEP = "\x1f"  # stands between title and abstract until an encoder puts its own separator there
PLAIN_SEP = ". "  # the separator for models whose tokenizer has no separator token


def join_title_abstract(title: str | None, abstract: str | None, sep: str = PAPER_SEP) -> str:
    """A paper as one document, the same for every stage (embed, search, evaluate): title, ``sep``,
    abstract. The default ``sep`` is a placeholder that :meth:`semcse.encode.Encoder.encode` replaces
    with the model tokenizer's separator token (``title[SEP]abstract``, as SPECTER and SciRepEval
    feed papers) or, without one, with ``". "`` (see :func:`render_separator`)."""
    title, abstract = (title or "").strip(), (abstract or "").strip()
    if title and abstract:
        return render_separator(f"{title}{PAPER_SEP}{abstract}", sep) if sep != PAPER_SEP else f"{title}{PAPER_SEP}{abstract}"
    return title or abstract


def render_separator(text: str, sep: str) -> str:
    """``text`` with the title/abstract placeholder replaced by ``sep``; a sentence separator such as
    ``". "`` after a title that already ends a sentence becomes a plain space (no ``"?. "``)."""
    if PAPER_SEP not in text:
        return text
    if sep.strip() in (".", ""):
        text = re.sub("([.?!:;])" + PAPER_SEP, r"\1 ", text)
    return text.replace(PAPER_SEP, sep)


@dataclass
class RowIssue:
    """A row that was skipped or changed: where it is, what was wrong and what was done."""

    file: str
    row: int
    reason: str
    action: str  # "skipped" | "truncated" | "kept"
    detail: str = ""

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.file}:{self.row}: {self.reason}{extra} -> {self.action}"


@dataclass
class CorpusReport:
    """What loading saw: rows read, papers kept, and every issue found."""

    source: str
    rows_read: int = 0
    papers: int = 0
    issues: list[RowIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warn_each: bool = True  # log a warning per issue (False: the caller reports a summary)

    def add(self, issue: RowIssue) -> None:
        self.issues.append(issue)
        if self.warn_each:
            log.warning("%s", issue)

    def counts(self) -> dict[str, int]:
        return dict(Counter(f"{i.reason}:{i.action}" for i in self.issues))

    @property
    def skipped(self) -> int:
        return sum(1 for i in self.issues if i.action == "skipped")

    def to_dict(self, max_examples: int = 20) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "papers": self.papers,
            "skipped": self.skipped,
            "issues_by_reason": self.counts(),
            "issue_examples": [asdict(i) for i in self.issues[:max_examples]],
            "notes": self.notes,
        }

    def summary_lines(self, max_examples: int = 5) -> list[str]:
        lines = [f"{self.source}: {self.rows_read} rows read, {self.papers} papers kept, {self.skipped} skipped"]
        lines += [f"  {reason}: {n}" for reason, n in sorted(self.counts().items())]
        lines += [f"  e.g. {i}" for i in self.issues[:max_examples]]
        lines += [f"  note: {n}" for n in self.notes]
        return lines


@dataclass
class Corpus:
    """Papers in input order plus the report of how they were read."""

    papers: list[Paper]
    report: CorpusReport

    def __len__(self) -> int:
        return len(self.papers)

    def __iter__(self) -> Iterator[Paper]:
        return iter(self.papers)

    def by_id(self) -> dict[str, Paper]:
        return {p.id: p for p in self.papers}


class _Undecodable(Exception):
    pass


def iter_jsonl(path: Path) -> Iterator[tuple[int, dict | Exception]]:
    """(line number, object) per non-blank line; a bad line yields an exception instead of raising."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield lineno, _Undecodable(f"invalid UTF-8 at byte {exc.start}")
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                yield lineno, ValueError(f"invalid JSON: {exc.msg}")
                continue
            if not isinstance(obj, dict):
                yield lineno, ValueError("line is not a JSON object")
                continue
            yield lineno, obj


def _iter_json_array(path: Path) -> Iterator[tuple[int, dict | Exception]]:
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorpusError(f"{path}: not valid UTF-8 JSON: {exc}") from exc
    if isinstance(data, dict):  # {id: record} mappings
        data = [{"id": k, **v} if isinstance(v, dict) else {"id": k, "value": v} for k, v in data.items()]
    for i, obj in enumerate(data, start=1):
        yield i, obj if isinstance(obj, dict) else ValueError("element is not a JSON object")


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _iter_delimited(path: Path, delimiter: str) -> Iterator[tuple[int, dict | Exception]]:
    csv.field_size_limit(1 << 30)
    with path.open("r", encoding="utf-8", errors="surrogateescape", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        for record in reader:
            row = reader.line_num  # physical line where the record ends; header is line 1
            if any(isinstance(v, str) and _has_surrogates(v) for v in record.values()):
                yield row, _Undecodable("invalid UTF-8 bytes")
                continue
            if None in record:
                yield row, ValueError(f"{len(record[None])} more fields than the header")
                continue
            yield row, record


def _iter_table(table: Any) -> Iterator[tuple[int, dict | Exception]]:
    for i, record in enumerate(table, start=1):
        yield i, dict(record)


def _iter_parquet(path: Path) -> Iterator[tuple[int, dict | Exception]]:
    import pyarrow.parquet as pq

    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
        for record in batch.to_pylist():
            row += 1
            yield row, record


def _open_source(cfg: CorpusConfig) -> tuple[str, Iterator[tuple[int, dict | Exception]], list[str] | None]:
    """Return (display name, row iterator, column names if known up front)."""
    src = str(cfg.source)
    path = Path(src).expanduser()
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists():
            import datasets

            ds = datasets.load_from_disk(str(path))
            if isinstance(ds, datasets.DatasetDict):
                split = cfg.split or ("train" if "train" in ds else next(iter(ds)))
                if split not in ds:
                    raise CorpusError(f"{path}: no split {split!r}; splits are {sorted(ds)}")
                ds = ds[split]
            return str(path), _iter_table(ds), list(ds.column_names)
        return _load_hub_or_local(cfg, str(path))  # a dataset repository laid out locally (data files + card)
    if path.exists():
        suffixes = [s.lower() for s in path.suffixes]
        fmt = cfg.format or (suffixes[-1].lstrip(".") if suffixes else "")
        if fmt in ("jsonl", "ndjson"):
            return str(path), iter_jsonl(path), None
        if fmt == "json":
            # SciRepEval and friends ship both JSON arrays and JSON lines under .json
            head = path.open("rb").read(1).strip()
            return str(path), (_iter_json_array(path) if head == b"[" or head == b"{" and _is_single_json(path) else iter_jsonl(path)), None
        if fmt in ("csv", "tsv", "tab"):
            return str(path), _iter_delimited(path, "," if fmt == "csv" else "\t"), None
        if fmt in ("parquet", "pq"):
            import pyarrow.parquet as pq

            try:
                columns = list(pq.ParquetFile(path).schema_arrow.names)
            except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
                raise CorpusError(f"{path}: not a readable Parquet file ({exc}); if it holds JSON lines or CSV, "
                                  "name it so (.jsonl, .csv) or pass --format") from None
            return str(path), _iter_parquet(path), columns
        raise CorpusError(f"{path}: unknown corpus format {fmt!r} (use jsonl, json, csv, tsv, parquet or a datasets directory)")
    looks_like_file = path.suffix.lower() in FILE_SUFFIXES  # "data/papers.jsonl" is a missing file, not a hub id
    if "/" in src and not src.startswith((".", "/", "~")) and not looks_like_file and cfg.allow_hub:
        return _load_hub_or_local(cfg, src)
    raise CorpusError(f"corpus not found: {src} (no such file{'' if looks_like_file or '/' not in src else ' or local dataset'})")


FILE_SUFFIXES = {".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".tab", ".parquet", ".pq", ".gz", ".txt"}


def _load_hub_or_local(cfg: CorpusConfig, src: str) -> tuple[str, Iterator[tuple[int, dict | Exception]], list[str]]:
    """``datasets.load_dataset`` on a hub id (``owner/name``) or a local dataset repository folder."""
    import datasets

    try:
        ds = datasets.load_dataset(src, cfg.hub_config, split=cfg.split or "train")
    except Exception as exc:  # network, missing dataset, no data files, ...
        raise CorpusError(f"could not load dataset {src!r} with datasets.load_dataset: {exc}") from exc
    return src, _iter_table(ds), list(ds.column_names)


def _is_single_json(path: Path) -> bool:
    with path.open("rb") as fh:
        first = fh.readline()
    try:
        json.loads(first)
        return False  # first line is a complete object: JSON lines
    except json.JSONDecodeError:
        return True


def _pick(name: str | None, candidates: Iterable[str], columns: Iterable[str], what: str, source: str, required: bool) -> str | None:
    cols = list(columns)
    if name:
        if name.startswith("@"):
            return name
        if name not in cols:
            raise CorpusError(f"{source}: {what} field {name!r} not found; fields are {cols}")
        return name
    for cand in candidates:
        if cand in cols:
            return cand
    if required:
        raise CorpusError(f"{source}: no {what} field found among {cols}; name it with --{what}-field")
    return None


def text_and_sentences(value: Any) -> tuple[str | None, list[str] | None]:
    """A field value as (text, sentences): lists of sentences are joined with spaces."""
    if value is None:
        return None, None
    if isinstance(value, (list, tuple)):
        sents = [str(s).strip() for s in value if s is not None and str(s).strip()]
        return (" ".join(sents), sents) if sents else (None, None)
    text = str(value).strip()
    return (text or None), None


def _as_labels(value: Any) -> list[str] | None:
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value] or None
    return [str(value)]


def load_corpus(cfg: CorpusConfig | str | Path, warn_each: bool = True, **overrides: Any) -> Corpus:
    """Read a corpus, map its fields and validate every row.

    Accepts a :class:`CorpusConfig` or a path/dataset id (with config fields as keyword overrides).
    Returns a :class:`Corpus`; skipped and truncated rows are in ``corpus.report`` (and each is logged
    as a warning unless ``warn_each`` is False).
    Raises :class:`CorpusError` only when the source as a whole cannot be used.
    """
    if not isinstance(cfg, CorpusConfig):
        cfg = CorpusConfig(source=str(cfg), **overrides)
    elif overrides:
        cfg = cfg.replace(**overrides)
    source, rows, columns = _open_source(cfg)
    report = CorpusReport(source=source, warn_each=warn_each)
    papers: list[Paper] = []
    seen: set[str] = set()
    fields: dict[str, str | None] | None = None

    for row, record in rows:
        report.rows_read += 1
        if isinstance(record, Exception):
            reason = "undecodable" if isinstance(record, _Undecodable) else "malformed_row"
            report.add(RowIssue(source, row, reason, "skipped", str(record)))
            continue
        if fields is None:
            cols = columns or list(record.keys())
            id_field = _pick(cfg.id_field, ID_FIELDS, cols, "id", source, required=False)
            if id_field is None:
                id_field = ROW_NUMBER_ID
                report.notes.append("no id field: papers are identified by row number (row-N)")
            title_field = _pick(cfg.title_field, TITLE_FIELDS, cols, "title", source, required=False)
            if title_field is None and cfg.title_from_first_sentence:
                title_field = FIRST_SENTENCE_TITLE
            fields = {
                "id": id_field,
                "title": title_field,
                "abstract": _pick(cfg.abstract_field, ABSTRACT_FIELDS, cols, "abstract", source, required=True),
                "label": _pick(cfg.label_field, LABEL_FIELDS, cols, "label", source, required=False),
            }
            report.notes.append("fields: " + ", ".join(f"{k}={v}" for k, v in fields.items() if v))

        pid_raw = f"row-{row}" if fields["id"] == ROW_NUMBER_ID else record.get(fields["id"])
        pid = None if pid_raw is None else str(pid_raw).strip()
        if not pid:
            report.add(RowIssue(source, row, "missing_id", "skipped"))
            continue
        abstract, sentences = text_and_sentences(record.get(fields["abstract"]))
        if not abstract:
            report.add(RowIssue(source, row, "missing_abstract", "skipped", f"id={pid}"))
            continue
        if pid in seen:
            report.add(RowIssue(source, row, "duplicate_id", "skipped", f"id={pid}"))
            continue
        title: str | None
        if fields["title"] == FIRST_SENTENCE_TITLE:
            from semcse.sentences import split_sentences

            sents = sentences or split_sentences(abstract)
            title, rest = (sents[0], sents[1:]) if len(sents) > 1 else (None, sents)
            sentences = rest
            abstract = " ".join(rest)
        else:
            title, _ = text_and_sentences(record.get(fields["title"])) if fields["title"] else (None, None)
        if len(abstract) > cfg.max_abstract_chars:
            report.add(RowIssue(source, row, "abstract_too_long", "truncated", f"id={pid}, {len(abstract)} chars > {cfg.max_abstract_chars}"))
            abstract = abstract[: cfg.max_abstract_chars].rsplit(" ", 1)[0]
            sentences = None
        labels = _as_labels(record.get(fields["label"])) if fields["label"] else None
        extra = {k: v for k, v in record.items() if k in cfg.keep_fields}
        seen.add(pid)
        papers.append(Paper(id=pid, title=title, abstract=abstract, sentences=sentences, labels=labels, extra=extra))
        if cfg.limit is not None and len(papers) >= cfg.limit:
            break
    report.papers = len(papers)
    if not papers:
        raise CorpusError(f"{source}: no usable papers ({report.rows_read} rows read, {report.skipped} skipped)")
    return Corpus(papers=papers, report=report)


def read_jsonl(path: str | Path) -> list[dict]:
    """Small helper: every JSON object of a JSONL file, with a clear error naming a bad line."""
    out = []
    for row, record in iter_jsonl(Path(path)):
        if isinstance(record, Exception):
            raise CorpusError(f"{path}:{row}: {record}")
        out.append(record)
    return out
