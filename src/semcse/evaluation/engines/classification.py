"""SciRepEval classification (format CLF): their linear probe on frozen embeddings, macro-F1 x 100.

Data, either of:

- SciRepEval's layout: ``meta`` (papers: ``allenai/scirepeval`` config, split ``evaluation``, or a
  local file / save_to_disk folder) and ``test`` (``{paper_id, label}`` rows in splits ``train`` and
  ``test``: ``allenai/scirepeval_test`` config, a folder with ``train.csv`` / ``test.csv``, or a
  save_to_disk folder); the text of a paper is its ``fields``;
- their sample files: ``data`` (papers with ``doc_id`` / ``corpus_id``, title, abstract) or a
  ``dataset``, with labels inline (``label_field``; split into train and test with the task's seed)
  or in ``train`` / ``test`` label files.

Scored by :func:`semcse.evaluation.scirepeval.protocol.probe_classification`; the task's score is
its first ``metrics`` entry (default ``f1_macro``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from semcse.evaluation.engines import register
from semcse.evaluation.engines.base import Engine, Prepared
from semcse.evaluation.errors import BenchmarkError
from semcse.evaluation.scirepeval import layout
from semcse.evaluation.scirepeval.protocol import check_metrics, probe_classification, probe_regression

if TYPE_CHECKING:
    from semcse.evaluation.data import DataContext, DataFile
    from semcse.evaluation.specs import TaskSpec


def _is_ref(value: Any) -> bool:
    return (isinstance(value, str) and bool(value)) or (
        isinstance(value, dict) and isinstance(value.get("name"), str) and isinstance(value.get("config"), str))


def label_matrix(ys: list[Any]) -> tuple[np.ndarray, list[str]]:
    """Multi-label targets as a 0/1 matrix and the label names.

    SciRepEval's own layout already has 0/1 vectors of one length (kept as they are, so labels that
    never occur still count in macro-F1, as in their runs); label lists (names or ids) are binarized
    over the labels that occur.
    """
    if (all(isinstance(y, list) for y in ys) and len({len(y) for y in ys}) == 1 and len(ys[0]) >= 2
            and all(v in (0, 1) and not isinstance(v, str) for y in ys for v in y)):
        return np.asarray(ys, dtype=np.int64), [str(i) for i in range(len(ys[0]))]
    from sklearn.preprocessing import MultiLabelBinarizer

    sets = [[str(v) for v in (y if isinstance(y, list) else [y])] for y in ys]
    mlb = MultiLabelBinarizer()
    return mlb.fit_transform(sets).astype(np.int64), [str(c) for c in mlb.classes_]


def _native(values: list[Any]) -> list[Any]:
    """Single labels as read: numbers written as text (CSV) become ints, as datasets' CSV reader makes them."""
    if values and all(isinstance(v, str) and v.strip().lstrip("-").isdigit() for v in values):
        return [int(v) for v in values]
    return values


@register
class ClassificationEngine(Engine):
    """SciRepEval's linear probe (LinearSVC, no intercept, 3-fold grid over C) on frozen embeddings."""

    type = "classification"
    group = "scirepeval"
    format = "CLF"
    OPTIONS = {"meta": "", "test": "", "fields": list(layout.DEFAULT_FIELDS), "metrics": ["f1_macro"],
               "multi_label": False, "cv": 3, "text": "text", "label_field": "", "train": "", "id_column": "",
               "label_column": "label", "test_size": 0.3}
    metric = "f1_macro"
    higher_is_better = True
    kind = "classification"

    @classmethod
    def validate(cls, spec: "TaskSpec", where: str) -> None:
        o = spec.options
        if o["meta"] and (spec.data or spec.dataset):
            raise BenchmarkError(f"{where}: give 'meta' (SciRepEval's datasets) or 'data' / 'dataset' (sample files), not both")
        for key in ("meta", "test"):
            if o[key] and not _is_ref(o[key]):
                raise BenchmarkError(f"{where}: {key} must be a path or a hub dataset {{name = ..., config = ...}}, got {o[key]!r}")
        if o["meta"] and not o["test"] and not isinstance(o["meta"], dict):
            raise BenchmarkError(f"{where}: a local 'meta' needs 'test' (a folder with train.csv and test.csv, or a hub dataset)")
        if o["train"] and not o["test"]:
            raise BenchmarkError(f"{where}: give both 'train' and 'test' label files")
        if o["train"] and not isinstance(o["test"], str):
            raise BenchmarkError(f"{where}: with a 'train' label file, 'test' must be a label file too")
        if spec.data and not o["train"] and not o["test"] and not o["label_field"]:
            raise BenchmarkError(f"{where}: with 'data' and inline labels, name the label field (label_field = ...)")
        if not (0 < float(o["test_size"]) < 1):
            raise BenchmarkError(f"{where}: test_size must be between 0 and 1, got {o['test_size']!r}")
        if o["text"] not in ("text", "abstract", "title"):
            raise BenchmarkError(f"{where}: text must be text, abstract or title, got {o['text']!r}")
        if not isinstance(o["fields"], list) or not o["fields"] or not all(isinstance(f, str) for f in o["fields"]):
            raise BenchmarkError(f"{where}: fields must be a non-empty list of field names, got {o['fields']!r}")
        if not isinstance(o["cv"], int) or o["cv"] < 0 or o["cv"] == 1:
            raise BenchmarkError(f"{where}: cv must be 0 (no grid search) or at least 2 folds, got {o['cv']!r}")
        check_metrics(cls.kind, o["metrics"], where)

    # ---- papers and labels ----------------------------------------------------------------------

    @classmethod
    def _sample_docs(cls, spec: "TaskSpec", ctx: "DataContext", where: str
                     ) -> tuple[dict[str, str], dict[str, Any], list["DataFile"], str]:
        """Texts and inline labels of a sample file (``data``) or a ``dataset``."""
        o = spec.options
        texts: dict[str, str] = {}
        labels: dict[str, Any] = {}
        if spec.data:
            path = ctx.resolve(spec.data, where)
            rows = layout.read_records(path, where)
            lf = o["label_field"]
            if lf and rows and not any(lf in r for r in rows):
                raise BenchmarkError(f"{where}: {path}: label field {lf!r} not found; fields are {sorted(rows[0])}")
            fields = ["title", "abstract"] if o["text"] == "text" else [o["text"]]
            for r in rows:
                pid = layout.doc_id(r)
                text = layout.record_text(r, fields)
                if pid is not None and text and pid not in texts:
                    texts[pid] = text
                    if lf and r.get(lf) not in (None, "", []):
                        labels[pid] = layout.parse_label(r[lf])
            return texts, labels, [ctx.file(path)], ctx.shown(path)
        corpus = ctx.corpus(spec.dataset, where)
        views = ctx.views(spec.dataset)
        for p in corpus.papers:
            t = views.texts(p, o["text"])
            if t and p.id not in texts:
                texts[p.id] = t[0]
                if p.labels:
                    labels[p.id] = list(p.labels)
        files = ctx.data_files(spec)
        return texts, labels, files, files[0].path

    @classmethod
    def _inline_split(cls, spec: "TaskSpec", labels: dict[str, Any], shown: str, ctx: "DataContext", where: str
                      ) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]], str]:
        from sklearn.model_selection import train_test_split

        o = spec.options
        if not labels:
            field = o["label_field"] or (ctx.dataset_spec(spec.dataset).corpus.label_field if spec.dataset else None)
            raise BenchmarkError(f"{where}: {shown} has no labels (label field {field!r})")
        rows = list(labels.items())
        if not o.get("multi_label") or cls.kind == "regression":
            rows = [(pid, y[0] if isinstance(y, list) else y) for pid, y in rows]
        stratify = None
        if cls.kind == "classification" and not o.get("multi_label"):
            ys = [str(y) for _, y in rows]
            _, counts = np.unique(ys, return_counts=True)
            n_test = int(np.ceil(len(ys) * float(o["test_size"])))
            if counts.min() >= 2 and n_test >= len(counts) and len(ys) - n_test >= len(counts):
                stratify = ys
        if len(rows) < 2:
            raise BenchmarkError(f"{where}: {shown} has {len(rows)} labelled paper(s); a train/test split needs at least 2")
        tr, te = train_test_split(np.arange(len(rows)), test_size=float(o["test_size"]), random_state=spec.seed,
                                  stratify=stratify)
        how = f"seeded {'stratified ' if stratify is not None else ''}split, test_size={o['test_size']}"
        return [rows[i] for i in tr], [rows[i] for i in te], how

    @classmethod
    def prepare(cls, spec: "TaskSpec", ctx: "DataContext", pool_size: int | None) -> Prepared:
        where = cls.where(spec, ctx)
        o = spec.options
        if o["meta"]:
            docs, files = layout.meta_docs(ctx, o["meta"], o["fields"], where)
            texts, shown = docs.texts, files[0].path
            train, test, more = layout.supervised_labels(ctx, o["test"] or o["meta"], where, o["id_column"], o["label_column"])
            files += more
            how = "the data's train/test splits"
        else:
            texts, labels, files, shown = cls._sample_docs(spec, ctx, where)
            if o["train"]:
                (train, f1), (test, f2) = (layout.label_file(ctx, o[k], f"{where}: {k}", o["id_column"], o["label_column"])
                                           for k in ("train", "test"))
                files += [f1, f2]
                how = "the train/test label files"
            elif o["test"]:
                train, test, more = layout.supervised_labels(ctx, o["test"], where, o["id_column"], o["label_column"])
                files += more
                how = "the data's train/test splits"
            else:
                train, test, how = cls._inline_split(spec, labels, shown, ctx, where)
        return cls._finish(spec, texts, train, test, files, shown, how, where)

    @classmethod
    def _targets(cls, ys: list[Any], n_train: int, multi_label: bool, shown: str, where: str) -> tuple[Any, dict[str, Any]]:
        if cls.kind == "regression":
            try:
                return np.asarray([float(y[0] if isinstance(y, list) else y) for y in ys]), {}
            except (TypeError, ValueError) as exc:
                raise BenchmarkError(f"{where}: regression labels must be numbers: {exc}") from None
        if multi_label:
            mat, names = label_matrix(ys)
            if mat.shape[1] < 2:
                raise BenchmarkError(f"{where}: needs at least 2 distinct labels; {shown} has {names}")
            return mat, {"labels": int(mat.shape[1])}
        bad = next((y for y in ys if isinstance(y, list)), None)
        if bad is not None:
            raise BenchmarkError(f"{where}: label {bad!r} is a list: set multi_label = true for a multi-label task")
        ys = _native(ys)
        distinct = sorted({str(y) for y in ys[:n_train]})
        if len(distinct) < 2:
            raise BenchmarkError(f"{where}: needs at least 2 distinct labels; {shown} has {len(distinct)} ({distinct})")
        return np.asarray(ys), {"labels": len({str(y) for y in ys})}

    @classmethod
    def _finish(cls, spec: "TaskSpec", texts: dict[str, str], train: list[tuple[str, Any]], test: list[tuple[str, Any]],
                files: list["DataFile"], shown: str, how: str, where: str) -> Prepared:
        missing = sum(1 for pid, _ in train + test if pid not in texts)
        train = [(pid, y) for pid, y in train if pid in texts]  # as their read_dataset: papers without an embedding drop out
        test = [(pid, y) for pid, y in test if pid in texts]
        if not train or not test:
            raise BenchmarkError(f"{where}: no labelled paper of the train/test split is in {shown} ({missing} ids not found)")
        y, info = cls._targets([y for _, y in train + test], len(train), bool(spec.options.get("multi_label")), shown, where)
        ids = list(dict.fromkeys(pid for pid, _ in train + test))
        index = {pid: i for i, pid in enumerate(ids)}
        rows = np.asarray([index[pid] for pid, _ in train + test])
        info.update({"train": len(train), "test": len(test), "split": how, "ids_missing_from_meta": missing})
        data = {"train": rows[: len(train)], "test": rows[len(train):], "y_train": y[: len(train)],
                "y_test": y[len(train):], "metric": spec.options["metrics"][0],
                "higher_is_better": spec.options["metrics"][0] != "mse"}
        return Prepared(spec, {"texts": [texts[pid] for pid in ids]}, data, len(train) + len(test), files, info)

    @classmethod
    def score(cls, prepared: Prepared, embeddings: dict[str, Any], distance) -> dict[str, Any]:
        x = np.asarray(embeddings["texts"])
        d, o = prepared.data, prepared.spec.options
        args = (x[d["train"]], d["y_train"], x[d["test"]], d["y_test"])
        if cls.kind == "regression":
            return probe_regression(*args, metrics=o["metrics"], cv=o["cv"])
        return probe_classification(*args, multi_label=bool(o.get("multi_label")), metrics=o["metrics"], cv=o["cv"])
