"""SciRepEval's data layout, read as it is.

**Task config** (``scirepeval_tasks.jsonl``, one JSON object a line, as their ``scirepeval.py``
reads it): ``name``, ``type`` (``classification``, ``regression``, ``proximity``, ``adhoc_search``),
``data.meta`` and ``data.test`` (a hub ``{"name", "config"}`` or a local path; a missing ``test``
means the ``meta`` hub dataset), ``data.simple_format`` (kept as an option; the rows' shape shows
which of their two meta formats a dataset has), ``metrics`` (the first is the task's score),
``fields``, ``multi_label``. ``few_shot``, ``embeddings`` and ``batch_size`` are accepted
and not used (few-shot runs are not part of their main table; embeddings are cached per model
here); ``data.reviewers`` (Paper-Reviewer Matching) marks a task this package skips.

**Datasets** (their ``eval_datasets.py`` / ``evaluator.py``):

- ``meta``: split ``evaluation`` of ``allenai/scirepeval/<config>``: papers ``{doc_id, title,
  abstract, ...}`` (``SimpleDataset``), or for ranking tasks rows ``{doc_id, query, candidates}``
  where ``query`` is a text or a paper and ``candidates`` are papers (``IRDataset``). A paper's
  text is its ``fields`` (default title, abstract); the first paper seen under an id keeps it,
  queries before candidates.
- ``test`` for classification / regression: splits ``train`` and ``test`` of
  ``allenai/scirepeval_test/<config>`` with ``{paper_id, label}``; a multi-label ``label`` is a
  0/1 vector over the task's labels. Locally: a folder with ``train.csv`` and ``test.csv``.
- ``test`` for ranking: split ``test`` with ``{query_id, cand_id, score}`` (qrels). Locally: a
  folder with ``test_qrel.jsonl``.

Hub datasets come from the hub or from a folder of ``save_to_disk`` copies (see
:meth:`semcse.evaluation.data.DataContext.hub_dataset`).

**Sample files** (their ``training/sample_data``, in ``../shared/data/scirepeval_sample``):
papers with inline labels (``fos_small.json``, ``mesh_small.json``), citation triplets
(``specter_small.json``) and search rows with graded candidates (``search_small.jsonl``).
"""

from __future__ import annotations

import ast
import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from semcse.corpus import join_title_abstract
from semcse.evaluation.data import DataContext, DataFile, hub_split
from semcse.evaluation.errors import BenchmarkError

TASK_TYPES = {"classification": "classification", "regression": "regression", "proximity": "proximity",
              "adhoc_search": "search"}
DEFAULT_FIELDS = ["title", "abstract"]
ID_KEYS = ("doc_id", "corpus_id", "paper_id", "id", "sha")
ID_COLUMNS = ("paper_id", "doc_id", "corpus_id", "id")
IGNORED_KEYS = {"few_shot", "embeddings", "batch_size", "ctrl_token"}
TASK_KEYS = {"name", "type", "data", "metrics", "fields", "multi_label"} | IGNORED_KEYS
DATA_KEYS = {"meta", "test", "simple_format", "reviewers"}


# ---- the task config jsonl -------------------------------------------------------------------


def _check_ref(value: Any, where: str, what: str) -> None:
    if isinstance(value, str) and value:
        return
    if isinstance(value, dict) and isinstance(value.get("name"), str) and isinstance(value.get("config"), str):
        return
    raise BenchmarkError(f"{where}: {what} must be a path or a hub dataset {{\"name\": ..., \"config\": ...}}, got {value!r}")


def read_task_config(path: Path, only: Iterable[str] = (), formats: Iterable[str] = (),
                     where: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Their task config as benchmark tasks: ``[(where, task table)]``, one per (selected) line.

    Errors name the file, the line and the problem.
    """
    only, formats = list(only), list(formats)
    bad = [f for f in formats if f not in TASK_TYPES]
    if bad:
        raise BenchmarkError(f"{where}: unknown format(s) {bad}; SciRepEval's types are {sorted(TASK_TYPES)}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise BenchmarkError(f"{where}: SciRepEval task config not found: {path}") from None
    out: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        at = f"{path}:{n}"
        try:
            d = json.loads(line)
        except json.JSONDecodeError as exc:
            raise BenchmarkError(f"{at}: not a JSON object: {exc.msg}") from None
        if not isinstance(d, dict):
            raise BenchmarkError(f"{at}: not a JSON object")
        for key in ("name", "type", "data", "metrics"):
            if key not in d:
                raise BenchmarkError(f"{at}: task {d.get('name', '?')!r} has no {key!r}")
        name = str(d["name"])
        at = f"{at}: task {name!r}"
        if d["type"] not in TASK_TYPES:
            raise BenchmarkError(f"{at}: unknown type {d['type']!r}; SciRepEval's types are {sorted(TASK_TYPES)}")
        unknown = set(d) - TASK_KEYS
        if unknown:
            raise BenchmarkError(f"{at}: unknown key(s) {sorted(unknown)}; known: {sorted(TASK_KEYS)}")
        data = d["data"]
        if not isinstance(data, dict) or "meta" not in data:
            raise BenchmarkError(f"{at}: 'data' needs a 'meta' entry (their scirepeval.py: 'has no test metadata')")
        unknown = set(data) - DATA_KEYS
        if unknown:
            raise BenchmarkError(f"{at}: unknown data key(s) {sorted(unknown)}; known: {sorted(DATA_KEYS)}")
        _check_ref(data["meta"], at, "data.meta")
        test = data.get("test")
        if not test:
            if not isinstance(data["meta"], dict):
                raise BenchmarkError(f"{at}: a local 'meta' needs a 'test' entry (their scirepeval.py: 'has no test data')")
            test = data["meta"]  # as their scirepeval.py: the meta hub dataset holds the labels too
        _check_ref(test, at, "data.test")
        metrics = d["metrics"]
        if not isinstance(metrics, list) or not metrics or not all(isinstance(m, str) for m in metrics):
            raise BenchmarkError(f"{at}: 'metrics' must be a non-empty list of metric names, got {metrics!r}")
        if name in seen:
            raise BenchmarkError(f"{at}: duplicate task name")
        seen.add(name)
        if (only and name not in only) or (formats and d["type"] not in formats):
            continue
        task: dict[str, Any] = {"name": name, "type": TASK_TYPES[d["type"]], "meta": data["meta"], "test": test,
                                "metrics": list(metrics),
                                "description": f"SciRepEval {name} ({d['type']}; {path.name} line {n})"}
        if d.get("fields"):
            task["fields"] = list(d["fields"])
        if d["type"] == "classification":
            task["multi_label"] = bool(d.get("multi_label", False))
        if d["type"] in ("proximity", "adhoc_search"):
            task["simple_format"] = bool(data.get("simple_format", False))
            if data.get("reviewers"):
                task["reviewers"] = data["reviewers"]
        out.append((at, task))
    missing = [n for n in only if n not in seen]
    if missing:
        raise BenchmarkError(f"{where}: task(s) {missing} not in {path}; its tasks are {sorted(seen)}")
    return out


# ---- records and texts -----------------------------------------------------------------------


def _field_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):  # an abstract as a list of sentences
        return " ".join(str(v) for v in value if v is not None).strip()
    if value is None or value is False or value == 0 or value == "":  # their `if d[field]`: falsy fields left out
        return ""
    return str(value).strip()


def record_text(doc: dict[str, Any], fields: Iterable[str] = DEFAULT_FIELDS) -> str:
    """A paper's text from its ``fields`` (empty ones left out), as their ``SimpleDataset`` builds it.

    They join the fields with the tokenizer's separator token (``title [SEP] abstract``); so does
    :func:`semcse.corpus.join_title_abstract`, the one join of every stage (the encoder renders the
    separator)."""
    values = [v for v in (_field_text(doc.get(f)) for f in fields) if v]
    text = values[0] if values else ""
    for v in values[1:]:
        text = join_title_abstract(text, v)
    return text


def doc_id(doc: dict[str, Any]) -> str | None:
    """The id of a SciRepEval record (``doc_id``; sample files use ``corpus_id`` or ``sha``)."""
    for key in ID_KEYS:
        if doc.get(key) not in (None, ""):
            return str(doc[key])
    return None


def read_records(path: Path, where: str) -> list[dict[str, Any]]:
    """Rows of a JSON array, JSONL, CSV or TSV file as dicts (errors name the file and line)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ","))
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BenchmarkError(f"{where}: {path}: invalid JSON: {exc}") from exc
        return [d for d in data if isinstance(d, dict)]
    rows = []
    for i, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise BenchmarkError(f"{where}: {path}:{i}: invalid JSON line: {exc.msg}") from exc
    return rows


def parse_label(value: Any) -> Any:
    """A label value; a list written as text (``"[0, 1]"`` in a CSV) becomes a list."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return list(ast.literal_eval(value.strip()))
        except (ValueError, SyntaxError):
            return value
    if isinstance(value, tuple):
        return list(value)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    return value


def _iter_rows(rows: Any, columns: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
    """Rows of a list of dicts or of a ``datasets.Dataset`` (only ``columns`` read from a Dataset)."""
    if isinstance(rows, list):
        yield from rows
        return
    if columns is not None:
        keep = [c for c in columns if c in rows.column_names]
        rows = rows.select_columns(keep)
    for batch in rows.iter(batch_size=1000):
        keys = list(batch)
        for values in zip(*(batch[k] for k in keys)):
            yield dict(zip(keys, values))


# ---- their datasets: meta, labels, qrels -----------------------------------------------------


@dataclass
class Docs:
    """Papers by id (one id space, first text seen wins), and which ids are queries."""

    texts: dict[str, str] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)
    empty: int = 0  # records without any text in their fields (not encoded)

    def add(self, pid: str | None, text: str, query: bool = False) -> None:
        if pid is None or pid in self.texts:
            return
        if not text:
            self.empty += 1
            return
        self.texts[pid] = text
        if query:
            self.queries.append(pid)


SPLIT = re.compile(r"^(\w+)(?:\[:(\d+)\])?$")


def _open(ctx: "DataContext", ref: Any, split: str, where: str, what: str) -> tuple[Any, "DataFile"]:
    """Rows of split ``split`` (``name`` or ``name[:N]``, the first N rows) of a hub reference
    (``{"name", "config"}``) or of a local file / save_to_disk folder."""
    m = SPLIT.match(split)
    if not m:
        raise BenchmarkError(f"{where}: split {split!r} is not a split name or NAME[:N]")
    name, limit = m.group(1), int(m.group(2)) if m.group(2) else None
    if isinstance(ref, dict):  # meta: only its split, as their SimpleDataset; test: every split
        loaded, entry = ctx.hub_dataset(ref["name"], ref["config"], where, split=split if what == "meta" else None)
        rows = hub_split(loaded, name, where, f"{ref['name']} config {ref['config']!r}")
    else:
        path = ctx.resolve(str(ref), f"{where}: {what}")
        if not path.is_dir():
            rows = read_records(path, where)
            return (rows[:limit] if limit is not None else rows), ctx.file(path)
        import datasets

        try:
            loaded = datasets.load_from_disk(str(path))
        except (FileNotFoundError, ValueError) as exc:
            raise BenchmarkError(f"{where}: {what} {path}: not a dataset saved with save_to_disk ({exc})") from None
        rows, entry = hub_split(loaded, name, where, str(path)), ctx.file(path)
    if limit is not None and len(rows) > limit:
        rows = rows.select(range(limit))
    return rows, entry


def meta_rows(ctx: "DataContext", meta: Any, where: str, split: str = "evaluation") -> tuple[Any, "DataFile"]:
    """The rows of a ``meta`` dataset: split ``evaluation`` by default, as their ``SimpleDataset``."""
    return _open(ctx, meta, split, where, "meta")


def meta_docs(ctx: "DataContext", meta: Any, fields: Iterable[str], where: str, split: str = "evaluation"
              ) -> tuple[Docs, list["DataFile"]]:
    """The papers of a ``meta`` dataset, keyed by id (see :func:`docs_of_rows`)."""
    rows, entry = meta_rows(ctx, meta, where, split)
    return docs_of_rows(rows, fields, f"{where}: {entry.path}"), [entry]


def is_triplets(rows: Any) -> bool:
    """Whether rows are citation triplets ``{query, pos, neg}`` (SPECTER's ``cite_prediction`` format)."""
    first = next(_iter_rows(rows), None)
    return first is not None and all(k in first for k in ("query", "pos", "neg"))


def docs_of_rows(rows: Any, fields: Iterable[str], where: str) -> Docs:
    """Papers of meta rows, keyed by id: plain papers (their ``SimpleDataset``), or ranking rows
    ``{doc_id, query, candidates}`` (their ``IRDataset``: a text query is the paper ``{title: query,
    doc_id}``; all queries first, then all candidates). The row shape decides which."""
    fields = list(fields)
    docs = Docs()
    first = next(_iter_rows(rows), None)
    if first is not None and "candidates" in first:
        candidates: list[dict[str, Any]] = []
        for n, r in enumerate(_iter_rows(rows), start=1):
            q = r.get("query")
            if not isinstance(q, (str, dict)) or "candidates" not in r:
                raise BenchmarkError(f"{where}: row {n}: ranking rows need 'query' (a text or a paper) and "
                                     f"'candidates'; the row has {sorted(r)}")
            query = {"title": q, "doc_id": r.get("doc_id")} if isinstance(q, str) else q
            docs.add(doc_id(query), record_text(query, fields), query=True)
            candidates += list(r["candidates"] or [])
        for c in candidates:
            docs.add(doc_id(c), record_text(c, fields))
    else:
        for r in _iter_rows(rows, list(ID_KEYS) + fields):
            docs.add(doc_id(r), record_text(r, fields))
    if not docs.texts:
        raise BenchmarkError(f"{where}: no paper with an id (doc_id) and text in fields {fields}")
    return docs


def supervised_labels(ctx: "DataContext", test: Any, where: str, id_column: str = "", label_column: str = "label"
                      ) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]], list["DataFile"]]:
    """``(train, test, files)`` label rows ``(paper_id, label)`` of a SciRepEval test dataset."""
    out, files = [], []
    if isinstance(test, str):
        folder = ctx.resolve(test, f"{where}: test")
        if not folder.is_dir():
            raise BenchmarkError(f"{where}: test = {test!r} is a file; give a folder with train.csv and test.csv "
                                 "(SciRepEval's local layout), a save_to_disk folder, a hub dataset, or the label "
                                 "files as train = ... and test = ...")
        if (folder / "train.csv").is_file() and (folder / "test.csv").is_file():
            for split in ("train", "test"):
                path = folder / f"{split}.csv"
                out.append(_label_rows(read_records(path, where), f"{where}: {path}", id_column, label_column))
                files.append(ctx.file(path))
            return out[0], out[1], files
    for split in ("train", "test"):
        rows, entry = _open(ctx, test, split, where, "test")
        out.append(_label_rows(rows, f"{where}: {entry.path} ({split})", id_column, label_column))
        files.append(entry)
    return out[0], out[1], list({f.path: f for f in files}.values())


def label_file(ctx: "DataContext", rel: str, where: str, id_column: str = "", label_column: str = "label"
               ) -> tuple[list[tuple[str, Any]], "DataFile"]:
    """Label rows of one file (CSV / JSONL with an id column and a label column)."""
    path = ctx.resolve(rel, where)
    return _label_rows(read_records(path, where), f"{where}: {path}", id_column, label_column), ctx.file(path)


def _label_rows(rows: Any, where: str, id_column: str, label_column: str) -> list[tuple[str, Any]]:
    it = _iter_rows(rows)
    out = []
    for n, r in enumerate(it, start=1):
        cols = list(r)
        id_col = id_column or next((c for c in ID_COLUMNS if c in cols), None)
        if id_col not in cols or label_column not in cols:
            raise BenchmarkError(f"{where}: row {n}: needs an id column ({id_column or ' or '.join(ID_COLUMNS)}) "
                                 f"and the label column {label_column!r}; columns are {cols}")
        out.append((str(r[id_col]), parse_label(r[label_column])))
    if not out:
        raise BenchmarkError(f"{where}: no label rows")
    return out


def qrels_of(ctx: "DataContext", test: Any, where: str) -> tuple[dict[str, dict[str, int]], list["DataFile"]]:
    """``{query_id: {cand_id: grade}}`` of a SciRepEval test dataset (their ``get_qc_pairs``)."""
    if isinstance(test, str):
        folder = ctx.resolve(test, f"{where}: test")
        if folder.is_dir() and (folder / "test_qrel.jsonl").is_file():
            test = str(folder / "test_qrel.jsonl")
    rows, entry = _open(ctx, test, "test", where, "test")
    return qrel_rows(rows, f"{where}: {entry.path}"), [entry]


def qrel_rows(rows: Any, where: str) -> dict[str, dict[str, int]]:
    """qrels from rows ``{query_id, cand_id, score}`` (integer grades, as trec_eval reads them)."""
    qrels: dict[str, dict[str, int]] = {}
    for n, r in enumerate(_iter_rows(rows), start=1):
        try:
            qid, cid, grade = str(r["query_id"]), str(r["cand_id"]), r.get("score", r.get("relevance"))
        except KeyError as exc:
            raise BenchmarkError(f"{where}: row {n}: qrels rows need query_id, cand_id and score; missing {exc}") from None
        qrels.setdefault(qid, {})[cid] = grade_of(grade, f"{where}: row {n}")
    if not qrels:
        raise BenchmarkError(f"{where}: no qrels rows")
    return qrels


def trec_qrels(path: Path, where: str) -> dict[str, dict[str, int]]:
    """qrels from TREC lines ``qid 0 docid grade``."""
    qrels: dict[str, dict[str, int]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise BenchmarkError(f"{where}: {path}:{n}: a TREC qrels line has 4 fields (qid 0 docid grade)")
        qrels.setdefault(parts[0], {})[parts[2]] = grade_of(parts[3], f"{where}: {path}:{n}")
    if not qrels:
        raise BenchmarkError(f"{where}: qrels file {path} is empty")
    return qrels


def grade_of(value: Any, where: str) -> int:
    """An integer relevance grade (trec_eval's qrels hold integers)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise BenchmarkError(f"{where}: relevance {value!r} is not a number") from None
    if not f.is_integer():
        raise BenchmarkError(f"{where}: relevance {value!r} is not an integer grade (trec_eval reads integers)")
    return int(f)


# ---- the sample files ------------------------------------------------------------------------


def sample_ranking(rows: list[dict[str, Any]], fields: Iterable[str], where: str
                   ) -> tuple[Docs, dict[str, dict[str, int]]]:
    """Docs and qrels from sample rows: citation triplets ``{query, pos, neg}`` (the cited paper is
    relevant, the negative not) or rows ``{query, candidates: [{..., score}]}`` (graded)."""
    fields = list(fields)
    docs, qrels = Docs(), {}
    candidates: list[tuple[str, dict[str, Any]]] = []
    for n, r in enumerate(_iter_rows(rows), start=1):
        q = r.get("query")
        if isinstance(q, str):
            qid = str(r.get("doc_id") or f"query:{n}")
            query = {"title": q, "doc_id": qid}
        elif isinstance(q, dict):
            query = q
            qid = doc_id(q) or f"query:{n}"
        else:
            raise BenchmarkError(f"{where}: row {n}: 'query' must be a text or a paper, got {type(q).__name__}")
        docs.add(qid, record_text(query, fields), query=True)
        if "pos" in r and "neg" in r:
            pairs = [(r["pos"], 1), (r["neg"], 0)]
        elif "candidates" in r:
            pairs = [(c, c.get("score", c.get("relevance", 0))) for c in r["candidates"] or []]
        else:
            raise BenchmarkError(f"{where}: row {n}: rows need pos and neg (triplets) or candidates (with scores)")
        for c, grade in pairs:
            cid = doc_id(c) or record_text(c, fields)
            qrels.setdefault(qid, {})[cid] = grade_of(grade or 0, f"{where}: row {n}")
            candidates.append((cid, c))
    for cid, c in candidates:  # queries first, then candidates, as their IRDataset
        docs.add(cid, record_text(c, fields))
    return docs, qrels
