"""SciRepEval-format tasks: linear-probe classification / regression, proximity and ad-hoc search.

Formats read (SciRepEval's own local formats and its ``training/sample_data`` files):

- **classification / regression**: a dataset of papers (``[datasets.X]``: JSON/JSONL/CSV with id,
  title, abstract) and either labels inline (``label_field``; e.g. ``fos_small.json`` with a
  list ``labels_text``, ``mesh_small.json`` with ``descriptor``), split into train/test with a
  seeded (stratified where possible) split, or ``train``/``test`` label files (SciRepEval's
  ``train.csv`` / ``test.csv`` with ``paper_id`` and ``label``; JSONL works too). Scored with
  SciRepEval's probe: LinearSVC, 3-fold grid search over C, macro-F1 (multi-label: one-vs-rest);
  regression: LinearSVR, Kendall tau.
- **proximity**: citation triplets (rows ``{query, pos, neg}``, each a paper ``{title, abstract}``):
  the share of triplets ranked correctly; or a ``meta`` file of papers (``doc_id``, title, abstract)
  plus ``qrels`` (``test_qrel.jsonl`` rows ``{query_id, cand_id, score}``, or TREC ``qid 0 docid rel``):
  MAP over each query paper's candidates.
- **search**: rows ``{query: "text", candidates: [{corpus_id|doc_id, title, abstract, score}]}``
  (``search_small.jsonl``), or meta rows ``{doc_id, query, candidates}`` plus ``qrels``: nDCG@10
  over graded relevance.

Candidates are ranked by the model's own distance (smaller = better), like SciRepEval's negative
Euclidean distance for Euclidean models.
"""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from semcse.evaluation.metrics import (
    linear_probe_classification, linear_probe_regression, mean_average_precision, mean_ndcg_at_k, triplet_accuracy,
)
from semcse.evaluation.tasks import BenchmarkError, DataContext, Engine, Prepared, TaskSpec, join_title_abstract

ID_COLUMNS = ("paper_id", "doc_id", "corpus_id", "id")


def _doc_text(doc: dict[str, Any]) -> str:
    """Title and abstract of a SciRepEval record (either may be missing) as one text."""
    abstract = doc.get("abstract") or ""
    if isinstance(abstract, list):
        abstract = " ".join(str(s) for s in abstract)
    return join_title_abstract(str(doc.get("title") or ""), str(abstract))


def _doc_id(doc: dict[str, Any]) -> str | None:
    for key in ("doc_id", "corpus_id", "paper_id", "id", "sha"):
        if doc.get(key) not in (None, ""):
            return str(doc[key])
    return None


def read_records(path: Path, where: str) -> list[dict[str, Any]]:
    """Rows of a JSON array, JSONL, CSV or TSV file as dicts (clear error naming the file and line)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ","))
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
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


def _parse_label(value: Any) -> Any:
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return [str(v) for v in ast.literal_eval(value.strip())]
        except (ValueError, SyntaxError):
            return value
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return value


class ClassificationEngine(Engine):
    """Linear probe (LinearSVC, ``cv``-fold grid over C) on frozen embeddings; macro-F1 on the test split.

    Papers come from ``data`` (a SciRepEval meta / sample file: id, title, abstract, either may be
    empty; inline labels in ``label_field``) or from a ``dataset`` (read with the corpus reader).
    Labels are inline (split train/test with the task's seed) or in ``train`` / ``test`` files.
    """

    type = "classification"
    group = "scirepeval"
    OPTIONS = {"text": "text", "multi_label": False, "test_size": 0.3, "cv": 3, "train": "", "test": "",
               "id_column": "", "label_column": "label", "label_field": ""}
    metric = "f1_macro"
    higher_is_better = True
    regression = False

    @classmethod
    def validate(cls, spec: TaskSpec, where: str) -> None:
        o = spec.options
        if bool(o["train"]) != bool(o["test"]):
            raise BenchmarkError(f"{where}: give both 'train' and 'test' label files, or neither (inline labels)")
        if spec.data and not o["train"] and not o["label_field"]:
            raise BenchmarkError(f"{where}: with 'data' and inline labels, name the label field (label_field = ...)")
        if not (0 < float(o["test_size"]) < 1):
            raise BenchmarkError(f"{where}: test_size must be between 0 and 1, got {o['test_size']!r}")
        if o["text"] not in ("text", "abstract", "title"):
            raise BenchmarkError(f"{where}: text must be text, abstract or title, got {o['text']!r}")

    @classmethod
    def _label_file(cls, spec: TaskSpec, ctx: DataContext, key: str, where: str) -> tuple[list[tuple[str, Any]], Path]:
        path = ctx.resolve(spec.options[key], f"{where}: {key}")
        rows = read_records(path, where)
        if not rows:
            raise BenchmarkError(f"{where}: {key} file {path} is empty")
        cols = list(rows[0].keys())
        id_col = spec.options["id_column"] or next((c for c in ID_COLUMNS if c in cols), None)
        lab_col = spec.options["label_column"]
        if id_col not in cols or lab_col not in cols:
            raise BenchmarkError(f"{where}: {path}: needs an id column ({spec.options['id_column'] or ID_COLUMNS}) "
                                 f"and label column {lab_col!r}; columns are {cols}")
        return [(str(r[id_col]), _parse_label(r[lab_col])) for r in rows], path

    @classmethod
    def _docs(cls, spec: TaskSpec, ctx: DataContext, where: str) -> tuple[dict[str, tuple[str, Any]], str]:
        """``{id: (text, inline labels or None)}`` and the data file shown in messages."""
        o = spec.options
        docs: dict[str, tuple[str, Any]] = {}
        if spec.data:
            path = ctx.resolve(spec.data, where)
            rows = read_records(path, where)
            lf = o["label_field"]
            if lf and rows and not any(lf in r for r in rows):
                raise BenchmarkError(f"{where}: {path}: label field {lf!r} not found; fields are {sorted(rows[0])}")
            for r in rows:
                pid = _doc_id(r)
                text = _doc_text(r) if o["text"] == "text" else str(r.get(o["text"]) or "").strip()
                if pid is not None and text and pid not in docs:
                    docs[pid] = (text, _parse_label(r.get(lf)) if lf else None)
            return docs, str(path)
        corpus = ctx.corpus(spec.dataset, where)
        views = ctx.views(spec.dataset)
        for p in corpus.papers:
            t = views.texts(p, o["text"])
            if t:
                docs[p.id] = (t[0], list(p.labels) if p.labels else None)
        return docs, ctx.data_files(spec)[0].path

    @classmethod
    def prepare(cls, spec: TaskSpec, ctx: DataContext, pool_size: int | None) -> Prepared:
        where = f"{ctx.benchmark.source}: task {spec.name!r}"
        o = spec.options
        docs, shown = cls._docs(spec, ctx, where)
        files = ctx.data_files(spec)
        info: dict[str, Any] = {}
        if o["train"]:
            (train_rows, tp), (test_rows, ep) = cls._label_file(spec, ctx, "train", where), cls._label_file(spec, ctx, "test", where)
            files += [ctx.file(tp), ctx.file(ep)]
            missing = sum(1 for pid, _ in train_rows + test_rows if pid not in docs)
            train_rows = [(pid, y) for pid, y in train_rows if pid in docs]
            test_rows = [(pid, y) for pid, y in test_rows if pid in docs]
            info["ids_missing_from_meta"] = missing
            if not train_rows or not test_rows:
                raise BenchmarkError(f"{where}: no labelled paper of train/test is in {shown} ({missing} ids not found)")
            ids = [pid for pid, _ in train_rows + test_rows]
            ys = [y for _, y in train_rows + test_rows]
            n_train = len(train_rows)
        else:
            labelled = [(pid, y) for pid, (_, y) in docs.items() if y not in (None, "", [])]
            if not labelled:
                raise BenchmarkError(f"{where}: {shown} has no labels (label field "
                                     f"{o['label_field'] or (ctx.dataset_spec(spec.dataset).label_field if spec.dataset else None)!r})")
            ids = [pid for pid, _ in labelled]
            ys = [y if o["multi_label"] else (y[0] if isinstance(y, list) else y) for _, y in labelled]
            ys = [([y] if o["multi_label"] and not isinstance(y, list) else y) for y in ys]
            n_train = None
        if cls.regression:
            try:
                ys = [float(y[0] if isinstance(y, list) else y) for y in ys]
            except (TypeError, ValueError) as exc:
                raise BenchmarkError(f"{where}: regression labels must be numbers: {exc}") from exc
        else:
            flat = {str(lab) for y in ys for lab in (y if isinstance(y, list) else [y])}
            if len(flat) < 2:
                raise BenchmarkError(f"{where}: needs at least 2 distinct labels; {shown} has {len(flat)} ({sorted(flat)})")
            if o["multi_label"]:
                ys = [[str(v) for v in (y if isinstance(y, list) else [y])] for y in ys]
            else:
                ys = [str(y[0]) if isinstance(y, list) else str(y) for y in ys]
        if n_train is None:
            from sklearn.model_selection import train_test_split

            idx = np.arange(len(ids))
            stratify = None
            if not cls.regression and not o["multi_label"]:
                _, counts = np.unique(ys, return_counts=True)
                n_test = int(np.ceil(len(ys) * float(o["test_size"])))
                if counts.min() >= 2 and n_test >= len(counts) and len(ys) - n_test >= len(counts):
                    stratify = ys
            tr, te = train_test_split(idx, test_size=float(o["test_size"]), random_state=spec.seed, stratify=stratify)
            order = list(tr) + list(te)
            ids, ys, n_train = [ids[i] for i in order], [ys[i] for i in order], len(tr)
            info["split"] = f"seeded {'stratified ' if stratify is not None else ''}split, test_size={o['test_size']}"
        texts = [docs[pid][0] for pid in ids]
        info.update({"train": n_train, "test": len(ids) - n_train})
        if not cls.regression:
            info["labels"] = len({lab for y in ys for lab in (y if isinstance(y, list) else [y])})
        return Prepared(spec, {"texts": texts}, {"y": ys, "n_train": n_train}, len(ids), files, info)

    @classmethod
    def score(cls, prepared: Prepared, embeddings: dict[str, Any], distance) -> dict[str, Any]:
        x = np.asarray(embeddings["texts"])
        y, n = prepared.data["y"], prepared.data["n_train"]
        o = prepared.spec.options
        if cls.regression:
            return linear_probe_regression(x[:n], y[:n], x[n:], y[n:], cv=o["cv"], seed=prepared.spec.seed)
        return linear_probe_classification(x[:n], y[:n], x[n:], y[n:], multi_label=bool(o["multi_label"]), cv=o["cv"],
                                           seed=prepared.spec.seed)


class RegressionEngine(ClassificationEngine):
    """Linear regression probe (LinearSVR, grid over C); Kendall tau on the test split."""

    type = "regression"
    OPTIONS = {**ClassificationEngine.OPTIONS}
    metric = "kendall_tau"
    regression = True


def _read_qrels(path: Path, where: str) -> dict[str, dict[str, float]]:
    """``{query_id: {cand_id: grade}}`` from JSONL/CSV rows (query_id, cand_id, score) or TREC lines (qid 0 docid rel)."""
    qrels: dict[str, dict[str, float]] = {}
    if path.suffix.lower() in (".jsonl", ".json", ".csv", ".tsv"):
        for r in read_records(path, where):
            try:
                qrels.setdefault(str(r["query_id"]), {})[str(r["cand_id"])] = float(r.get("score", r.get("relevance", 0)))
            except KeyError as exc:
                raise BenchmarkError(f"{where}: {path}: qrels rows need query_id, cand_id and score; missing {exc}") from exc
    else:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 4:
                raise BenchmarkError(f"{where}: {path}:{i}: a TREC qrels line has 4 fields (qid 0 docid rel)")
            qrels.setdefault(parts[0], {})[parts[2]] = float(parts[3])
    if not qrels:
        raise BenchmarkError(f"{where}: qrels file {path} is empty")
    return qrels


class _Ranking:
    """Queries, a deduplicated candidate list and per-query (candidate indices, grades)."""

    def __init__(self) -> None:
        self.queries: list[str] = []
        self.cand_texts: list[str] = []
        self._cand_index: dict[str, int] = {}
        self.groups: list[tuple[int, np.ndarray, np.ndarray]] = []
        self.skipped = 0

    def cand(self, key: str, text: str) -> int:
        if key not in self._cand_index:
            self._cand_index[key] = len(self.cand_texts)
            self.cand_texts.append(text)
        return self._cand_index[key]

    def add(self, query: str, cands: list[tuple[str, str, float]]) -> None:
        cands = [(k, t, g) for k, t, g in cands if t]
        if not query or not cands:
            self.skipped += 1
            return
        self.queries.append(query)
        idx = np.asarray([self.cand(k, t) for k, t, _ in cands])
        self.groups.append((len(self.queries) - 1, idx, np.asarray([g for _, _, g in cands], dtype=float)))


def read_ranking(path: Path, qrels_path: Path | None, where: str, query_is_text: bool) -> _Ranking:
    """Read inline-candidate rows, or meta + qrels, into a :class:`_Ranking`."""
    rows = read_records(path, where)
    rk = _Ranking()
    if qrels_path is None:
        for r in rows:
            if "candidates" not in r:
                raise BenchmarkError(f"{where}: {path}: rows need 'candidates' (or give a qrels file)")
            q = r.get("query")
            qtext = (str(q).strip() if isinstance(q, str) else _doc_text(q or {}))
            cands = []
            for c in r["candidates"]:
                key = _doc_id(c) or _doc_text(c)
                cands.append((key, _doc_text(c), float(c.get("score", c.get("relevance", 0)) or 0)))
            rk.add(qtext, cands)
        return rk
    qrels = _read_qrels(qrels_path, where)
    docs: dict[str, str] = {}
    qtexts: dict[str, str] = {}
    for r in rows:
        rid = _doc_id(r)
        if query_is_text and isinstance(r.get("query"), str) and rid is not None:
            qtexts[rid] = r["query"].strip()
        if rid is not None and (r.get("title") or r.get("abstract")):
            docs[rid] = _doc_text(r)
        for c in r.get("candidates") or []:
            cid = _doc_id(c)
            if cid is not None:
                docs[cid] = _doc_text(c)
    for qid, grades in qrels.items():
        q = qtexts.get(qid) if query_is_text else docs.get(qid)
        rk.add(q or "", [(cid, docs.get(cid, ""), g) for cid, g in grades.items()])
    return rk


def _group_distances(q: Any, c: Any, groups: list[tuple[int, np.ndarray, np.ndarray]], distance) -> list[np.ndarray]:
    """Distances of each query to its own candidates, computed in one paired call."""
    qi = np.concatenate([np.full(len(idx), i) for i, idx, _ in groups])
    ci = np.concatenate([idx for _, idx, _ in groups])
    qt, ct = torch.as_tensor(np.asarray(q, dtype=np.float32)), torch.as_tensor(np.asarray(c, dtype=np.float32))
    d = distance.paired(qt[qi], ct[ci]).numpy()
    out, s = [], 0
    for _, idx, _ in groups:
        out.append(d[s : s + len(idx)])
        s += len(idx)
    return out


class ProximityEngine(Engine):
    """Citation proximity: triplets (share ranked correctly) or query papers with graded candidates (MAP)."""

    type = "proximity"
    group = "scirepeval"
    OPTIONS = {"qrels": ""}
    metric = "triplet_accuracy"
    higher_is_better = True

    @classmethod
    def validate(cls, spec: TaskSpec, where: str) -> None:
        if not spec.data:
            raise BenchmarkError(f"{where}: needs 'data' (a triplets file, or a meta file with 'qrels')")

    @classmethod
    def prepare(cls, spec: TaskSpec, ctx: DataContext, pool_size: int | None) -> Prepared:
        where = f"{ctx.benchmark.source}: task {spec.name!r}"
        path = ctx.resolve(spec.data, where)
        files = [ctx.file(path)]
        qrels = spec.options["qrels"]
        rows = read_records(path, where) if not qrels else []
        if rows and all(k in rows[0] for k in ("query", "pos", "neg")):
            trip = [(_doc_text(r["query"]), _doc_text(r["pos"]), _doc_text(r["neg"])) for r in rows]
            trip = [t for t in trip if all(t)]
            if not trip:
                raise BenchmarkError(f"{where}: {path}: no complete triplet")
            texts = {"queries": [t[0] for t in trip], "positives": [t[1] for t in trip], "negatives": [t[2] for t in trip]}
            return Prepared(spec, texts, {"mode": "triplets", "metric": "triplet_accuracy"}, len(trip), files,
                            {"triplets": len(trip), "skipped": len(rows) - len(trip)})
        qpath = ctx.resolve(qrels, f"{where}: qrels") if qrels else None
        if qpath is not None:
            files.append(ctx.file(qpath))
        rk = read_ranking(path, qpath, where, query_is_text=False)
        if not rk.groups:
            raise BenchmarkError(f"{where}: {path}: no query with candidates (rows need query/pos/neg, or candidates, or qrels)")
        return Prepared(spec, {"queries": rk.queries, "candidates": rk.cand_texts},
                        {"mode": "ranking", "groups": rk.groups, "metric": "map"}, len(rk.cand_texts), files,
                        {"queries": len(rk.queries), "skipped": rk.skipped})

    @classmethod
    def score(cls, prepared: Prepared, embeddings: dict[str, Any], distance) -> dict[str, Any]:
        if prepared.data["mode"] == "triplets":
            return {"triplet_accuracy": triplet_accuracy(embeddings["queries"], embeddings["positives"],
                                                         embeddings["negatives"], distance)}
        groups = prepared.data["groups"]
        d = _group_distances(embeddings["queries"], embeddings["candidates"], groups, distance)
        return mean_average_precision([-x for x in d], [g for _, _, g in groups])


class SearchEngine(Engine):
    """Ad-hoc search: text queries rank their candidates; nDCG@k over graded relevance."""

    type = "search"
    group = "scirepeval"
    OPTIONS = {"qrels": "", "k": 10}
    metric = "ndcg_at_10"
    higher_is_better = True

    @classmethod
    def validate(cls, spec: TaskSpec, where: str) -> None:
        if not spec.data:
            raise BenchmarkError(f"{where}: needs 'data' (rows with query and candidates, or a meta file with 'qrels')")

    @classmethod
    def prepare(cls, spec: TaskSpec, ctx: DataContext, pool_size: int | None) -> Prepared:
        where = f"{ctx.benchmark.source}: task {spec.name!r}"
        path = ctx.resolve(spec.data, where)
        files = [ctx.file(path)]
        qpath = ctx.resolve(spec.options["qrels"], f"{where}: qrels") if spec.options["qrels"] else None
        if qpath is not None:
            files.append(ctx.file(qpath))
        rk = read_ranking(path, qpath, where, query_is_text=True)
        if not rk.groups:
            raise BenchmarkError(f"{where}: {path}: no query with candidates")
        return Prepared(spec, {"queries": rk.queries, "candidates": rk.cand_texts},
                        {"groups": rk.groups, "metric": f"ndcg_at_{spec.options['k']}"}, len(rk.cand_texts), files,
                        {"queries": len(rk.queries), "skipped": rk.skipped})

    @classmethod
    def score(cls, prepared: Prepared, embeddings: dict[str, Any], distance) -> dict[str, Any]:
        groups = prepared.data["groups"]
        d = _group_distances(embeddings["queries"], embeddings["candidates"], groups, distance)
        out = mean_ndcg_at_k([-x for x in d], [g for _, _, g in groups], k=prepared.spec.options["k"])
        out.update({k: v for k, v in mean_average_precision([-x for x in d], [g for _, _, g in groups]).items() if k == "map"})
        return out


ENGINES = {e.type: e for e in (ClassificationEngine, RegressionEngine, ProximityEngine, SearchEngine)}
