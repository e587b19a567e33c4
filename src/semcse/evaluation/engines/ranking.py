"""What SciRepEval's proximity and ad-hoc search engines share (their ``IREvaluator``).

Each query's judged candidates are scored by the negative Euclidean distance of the raw embeddings
(``similarity = "model"`` uses the model's own distance instead) and the run is measured with
trec_eval's measures (:func:`semcse.evaluation.scirepeval.protocol.trec_measures`), x 100.

Data, either of:

- SciRepEval's layout: ``meta`` (``allenai/scirepeval`` config, split ``evaluation`` or ``split``:
  plain papers, or rows ``{doc_id, query, candidates}``) and ``test`` (qrels ``{query_id, cand_id,
  score}``: ``allenai/scirepeval_test`` config, split ``test``; or a folder with ``test_qrel.jsonl``);
  or ``meta`` alone holding citation triplets ``{query, pos, neg}`` (e.g. ``cite_prediction_new``,
  ``split = "validation[:2000]"``): the cited paper is its query's one relevant candidate;
- a ``data`` file of papers or ranking rows plus a ``qrels`` file (JSONL / CSV rows as above, or
  TREC lines ``qid 0 docid grade``);
- a ``data`` sample file alone: citation triplets ``{query, pos, neg}`` (the cited paper is the
  one relevant candidate of its query) or rows ``{query, candidates: [{..., score}]}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from semcse.evaluation.engines.base import Engine, Prepared
from semcse.evaluation.errors import BenchmarkError, TaskSkipped
from semcse.evaluation.scirepeval import layout
from semcse.evaluation.scirepeval.protocol import check_metrics, trec_measures

if TYPE_CHECKING:
    from semcse.evaluation.data import DataContext
    from semcse.evaluation.specs import TaskSpec


def _is_ref(value: Any) -> bool:
    return (isinstance(value, str) and bool(value)) or (
        isinstance(value, dict) and isinstance(value.get("name"), str) and isinstance(value.get("config"), str))


class RankingEngine(Engine):
    """Queries rank their judged candidates; trec_eval measures (not registered: see proximity / search)."""

    group = "scirepeval"
    OPTIONS = {"meta": "", "test": "", "split": "evaluation", "qrels": "", "fields": list(layout.DEFAULT_FIELDS),
               "metrics": ["map"], "simple_format": False, "similarity": "euclidean", "reviewers": ""}
    higher_is_better = True

    @classmethod
    def validate(cls, spec: "TaskSpec", where: str) -> None:
        o = spec.options
        if o["meta"] and spec.data:
            raise BenchmarkError(f"{where}: give 'meta' (SciRepEval's datasets) or 'data' (a file), not both")
        if spec.dataset:
            raise BenchmarkError(f"{where}: a {cls.type} task reads 'meta' + 'test' or a 'data' file, not a [datasets] entry")
        if not o["meta"] and not spec.data:
            raise BenchmarkError(f"{where}: needs 'data' (a file) or 'meta' + 'test' (SciRepEval's datasets)")
        for key in ("meta", "test"):
            if o[key] and not _is_ref(o[key]):
                raise BenchmarkError(f"{where}: {key} must be a path or a hub dataset {{name = ..., config = ...}}, got {o[key]!r}")
        if not isinstance(o["split"], str) or not layout.SPLIT.match(o["split"]):
            raise BenchmarkError(f"{where}: split must be a split name or NAME[:N] (its first N rows), got {o['split']!r}")
        if o["qrels"] and o["meta"]:
            raise BenchmarkError(f"{where}: 'qrels' goes with 'data'; with 'meta' the qrels are 'test'")
        if o["similarity"] not in ("euclidean", "model"):
            raise BenchmarkError(f"{where}: similarity must be 'euclidean' (SciRepEval) or 'model', got {o['similarity']!r}")
        if not isinstance(o["fields"], list) or not o["fields"] or not all(isinstance(f, str) for f in o["fields"]):
            raise BenchmarkError(f"{where}: fields must be a non-empty list of field names, got {o['fields']!r}")
        check_metrics("ranking", o["metrics"], where)

    @classmethod
    def prepare(cls, spec: "TaskSpec", ctx: "DataContext", pool_size: int | None) -> Prepared:
        where = cls.where(spec, ctx)
        o = spec.options
        if o.get("reviewers"):
            raise TaskSkipped(f"{spec.name} needs SciRepEval's reviewer matching evaluator (a reviewer's score "
                              "aggregates their papers' scores); not supported")
        info: dict[str, Any] = {}
        if o["meta"]:
            rows, entry = layout.meta_rows(ctx, o["meta"], where, o["split"])
            files = [entry]
            if o["test"] in ("", o["meta"]) and layout.is_triplets(rows):  # cite_prediction_new: qrels from the triplets
                docs, qrels = layout.sample_ranking(rows, o["fields"], f"{where}: {entry.path}")
                info["triplets"] = len(rows)
            elif not o["test"] and not isinstance(o["meta"], dict):
                raise BenchmarkError(f"{where}: {entry.path} holds no triplets (query, pos, neg): give 'test' (qrels: a "
                                     "folder with test_qrel.jsonl, or a hub dataset)")
            else:
                docs = layout.docs_of_rows(rows, o["fields"], f"{where}: {entry.path}")
                qrels, more = layout.qrels_of(ctx, o["test"] or o["meta"], where)
                files += more
        else:
            path = ctx.resolve(spec.data, where)
            files = [ctx.file(path)]
            rows = layout.read_records(path, where)
            if not rows:
                raise BenchmarkError(f"{where}: {path}: no rows")
            if o["qrels"]:
                qpath = ctx.resolve(o["qrels"], f"{where}: qrels")
                files.append(ctx.file(qpath))
                docs = layout.docs_of_rows(rows, o["fields"], f"{where}: {ctx.shown(path)}")
                if qpath.suffix.lower() in (".jsonl", ".json", ".csv", ".tsv"):
                    qrels = layout.qrel_rows(layout.read_records(qpath, where), f"{where}: {ctx.shown(qpath)}")
                else:
                    qrels = layout.trec_qrels(qpath, where)
            else:
                docs, qrels = layout.sample_ranking(rows, o["fields"], f"{where}: {ctx.shown(path)}")
                if all("pos" in r and "neg" in r for r in rows):
                    info["triplets"] = len(rows)
        queries = [q for q in qrels if q in docs.texts]
        candidates = list(dict.fromkeys(c for q in queries for c in qrels[q] if c in docs.texts))
        if not queries:
            raise BenchmarkError(f"{where}: {files[0].path}: no query of the qrels has a paper with text "
                                 f"({len(qrels)} queries in the qrels)")
        ids = list(dict.fromkeys(queries + candidates))
        info.update({"queries": len(queries), "candidates": len(candidates),
                     "judged": sum(len(qrels[q]) for q in queries),
                     "qrels_queries_without_paper": len(qrels) - len(queries),
                     "judged_without_paper": sum(1 for q in queries for c in qrels[q] if c not in docs.texts),
                     "records_without_text": docs.empty})
        data = {"ids": ids, "qrels": {q: qrels[q] for q in queries}, "metric": o["metrics"][0]}
        return Prepared(spec, {"docs": [docs.texts[i] for i in ids]}, data, len(candidates), files, info)

    @classmethod
    def run(cls, prepared: Prepared, embeddings: dict[str, Any], distance) -> dict[str, dict[str, float]]:
        """``{query_id: {cand_id: score}}``: each query's candidates with a paper, by negative distance."""
        ids, qrels = prepared.data["ids"], prepared.data["qrels"]
        index = {pid: i for i, pid in enumerate(ids)}
        pairs = [(q, c) for q in qrels for c in qrels[q] if c in index]
        emb = np.asarray(embeddings["docs"])
        qi = np.asarray([index[q] for q, _ in pairs], dtype=np.int64)
        ci = np.asarray([index[c] for _, c in pairs], dtype=np.int64)
        if prepared.spec.options["similarity"] == "euclidean" or distance is None:
            e = emb.astype(np.float64)
            d = np.linalg.norm(e[qi] - e[ci], axis=1) if len(pairs) else np.zeros(0)
        else:
            import torch

            t = torch.as_tensor(np.asarray(emb, dtype=np.float32))
            d = distance.paired(t[qi], t[ci]).double().numpy() if len(pairs) else np.zeros(0)
        run: dict[str, dict[str, float]] = {q: {} for q in qrels}
        for (q, c), dist in zip(pairs, d):
            run[q][c] = -float(dist)
        return run

    @classmethod
    def score(cls, prepared: Prepared, embeddings: dict[str, Any], distance) -> dict[str, Any]:
        out = trec_measures(prepared.data["qrels"], cls.run(prepared, embeddings, distance), prepared.spec.options["metrics"])
        out.pop("per_query")
        return out
