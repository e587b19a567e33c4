"""Engines of the semantic benchmark (METHOD.md 5): matching tasks and semantic clustering.

``matching`` covers title-abstract matching, abstract-segment consistency, query matching and
summary-abstract matching: each paper contributes query text(s) (a *view* of the paper) and one
candidate text; every query ranks all candidates of the pool by the model's own distance and the
score is the mean 1-based rank of its partner (lower is better), with MRR and recall@1.

Views: ``title``, ``abstract``, ``text`` (title + abstract), ``first_half`` / ``second_half`` (the
abstract split by sentences: the first ceil(n/2) sentences and the rest), ``field:NAME`` (a string or
list of strings in the data), ``generated`` (texts of a ``semcse summarize --task queries`` run,
``queries_from``, filtered by ``query_prompts``).

``clustering``: papers with one topic label each; the score is the mean share of each paper's k
nearest neighbours (itself excluded) with its label (higher is better); the V-measure of k-means
with the true number of classes is reported beside it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from semcse.evaluation.metrics import kmeans_v_measure, knn_label_agreement_per_item, partner_ranks, rank_metrics

PER_QUERY = "_per_query"  # per-query values of the score's metric (in memory only: paired comparisons)
from semcse.evaluation.tasks import (
    BenchmarkError, DataContext, Engine, Prepared, TaskSkipped, TaskSpec, check_view, sample_pool,
)

log = logging.getLogger(__name__)


def _field_views(*views: str) -> tuple[str, ...]:
    return tuple(v[6:] for v in views if v.startswith("field:"))


class MatchingEngine(Engine):
    """Each query (a view of a paper) ranks all candidates (another view) of the pool; mean partner rank."""

    type = "matching"
    group = "semantic"
    POOLED = True
    OPTIONS = {"query": "title", "candidate": "abstract", "queries_from": "", "query_prompts": ["search_query"],
               "per_paper": "all", "min_sentences": 2}
    metric = "mean_rank"
    higher_is_better = False

    @classmethod
    def validate(cls, spec: TaskSpec, where: str) -> None:
        o = spec.options
        check_view(o["query"], where, "query")
        check_view(o["candidate"], where, "candidate")
        if o["candidate"] == "generated":
            raise BenchmarkError(f"{where}: candidate cannot be 'generated' (generated texts are queries)")
        if o["per_paper"] not in ("all", "first"):
            raise BenchmarkError(f"{where}: per_paper must be 'all' or 'first', got {o['per_paper']!r}")
        if not spec.dataset:
            raise BenchmarkError(f"{where}: a matching task needs a 'dataset'")

    @classmethod
    def _generated(cls, spec: TaskSpec, ctx: DataContext, where: str) -> tuple[dict[str, list[str]], Path]:
        from semcse.summaries.store import SummaryStore

        src = spec.options.get("queries_from") or ""
        if not src:
            raise TaskSkipped("no generated queries: pass --queries RUN_DIR (a `semcse summarize --task queries` run)")
        run = Path(src).expanduser()
        if not run.is_absolute() and not run.exists():
            run = ctx.data_root / run
        store = SummaryStore(run)
        if not store.segments():
            raise BenchmarkError(f"{where}: queries_from {src!r}: no records/*.jsonl in {run} (not a summarize run directory)")
        prompts = spec.options.get("query_prompts") or None
        texts = store.texts_by_paper(prompts)
        if not texts:
            raise BenchmarkError(f"{where}: queries_from {run}: no accepted texts with prompt id(s) {prompts}")
        return texts, run

    @classmethod
    def prepare(cls, spec: TaskSpec, ctx: DataContext, pool_size: int | None) -> Prepared:
        where = f"{ctx.benchmark.source}: task {spec.name!r}"
        o = spec.options
        generated, run = (cls._generated(spec, ctx, where) if o["query"] == "generated" else (None, None))
        corpus = ctx.corpus(spec.dataset, where, _field_views(o["query"], o["candidate"]))
        files = ctx.data_files(spec)
        if run is not None:
            for seg in _store_segments(run):
                files.append(ctx.file(seg))
        views = ctx.views(spec.dataset)
        views.min_sentences = int(o["min_sentences"])

        seen: set[str] = set()

        def item(p):
            q = views.texts(p, o["query"], generated)
            c = views.texts(p, o["candidate"], generated)
            if not q or not c or c[0] in seen:  # a duplicate candidate would make its partner ambiguous
                return None
            seen.add(c[0])
            return (q[:1] if o["per_paper"] == "first" else q, c[0])

        src = files[0].path if files else spec.dataset
        if pool_size is not None and pool_size < 2:
            raise BenchmarkError(f"{where}: pool_size must be at least 2, got {pool_size}")
        pool = sample_pool(corpus.papers, pool_size, spec.seed, item)
        if not pool:
            extra = " (do the generated queries' paper ids match the dataset's ids?)" if generated is not None else ""
            raise BenchmarkError(f"{where}: empty pool: no paper in {src} has both a {o['query']!r} and a "
                                 f"{o['candidate']!r} text{extra}")
        if len(pool) < 2:
            raise BenchmarkError(f"{where}: pool of 1: {src} has only 1 usable paper; need at least 2")
        queries, targets, candidates = [], [], []
        for j, (qs, c) in enumerate(pool):
            candidates.append(c)
            queries += qs
            targets += [j] * len(qs)
        info = {"queries": len(queries), "papers_in_data": len(corpus.papers), "query": o["query"], "candidate": o["candidate"]}
        if run is not None:
            info["queries_from"] = str(run)
        return Prepared(spec, {"queries": queries, "candidates": candidates}, {"targets": np.asarray(targets)},
                        len(candidates), files, info)

    @classmethod
    def score(cls, prepared: Prepared, embeddings: dict[str, Any], distance) -> dict[str, Any]:
        ranks = partner_ranks(embeddings["queries"], embeddings["candidates"], distance, prepared.data["targets"])
        return {**rank_metrics(ranks, prepared.pool_size), PER_QUERY: ranks}


def _store_segments(run: Path) -> list[Path]:
    from semcse.summaries.store import SummaryStore

    return SummaryStore(run).segments()


class ClusteringEngine(Engine):
    """k-nearest-neighbour label agreement (k = 10) of labelled papers, plus V-measure of k-means."""

    type = "clustering"
    group = "semantic"
    POOLED = True
    OPTIONS = {"text": "text", "k": 10, "multi_label": "single", "v_measure": True, "map": True}
    metric = "knn_agreement"
    higher_is_better = True

    @classmethod
    def validate(cls, spec: TaskSpec, where: str) -> None:
        o = spec.options
        check_view(o["text"], where, "text")
        if o["text"] == "generated":
            raise BenchmarkError(f"{where}: text cannot be 'generated'")
        if o["multi_label"] not in ("single", "first"):
            raise BenchmarkError(f"{where}: multi_label must be 'single' (papers with one label) or 'first', got {o['multi_label']!r}")
        if not isinstance(o["k"], int) or o["k"] < 1:
            raise BenchmarkError(f"{where}: k must be a positive integer, got {o['k']!r}")
        if not spec.dataset:
            raise BenchmarkError(f"{where}: a clustering task needs a 'dataset'")

    @classmethod
    def prepare(cls, spec: TaskSpec, ctx: DataContext, pool_size: int | None) -> Prepared:
        where = f"{ctx.benchmark.source}: task {spec.name!r}"
        o = spec.options
        corpus = ctx.corpus(spec.dataset, where, _field_views(o["text"]))
        files = ctx.data_files(spec)
        dspec = ctx.dataset_spec(spec.dataset)
        labelled = [p for p in corpus.papers if p.labels]
        if not labelled:
            raise BenchmarkError(f"{where}: dataset {spec.dataset!r} ({files[0].path}) has no labels "
                                 f"(label_field = {dspec.label_field!r}); clustering needs a label per paper")
        if o["multi_label"] == "single":
            labelled = [p for p in labelled if len(set(p.labels)) == 1]
        distinct = sorted({str(p.labels[0]) for p in labelled})
        if len(distinct) < 2:
            raise BenchmarkError(f"{where}: needs at least 2 distinct labels; {files[0].path} has {len(distinct)} "
                                 f"({distinct}) among {len(labelled)} usable paper(s)")
        if pool_size is not None and pool_size < 2:
            raise BenchmarkError(f"{where}: pool_size must be at least 2, got {pool_size}")
        views = ctx.views(spec.dataset)

        def item(p):
            t = views.texts(p, o["text"])
            return (t[0], str(p.labels[0])) if t else None

        pool = sample_pool(labelled, pool_size, spec.seed, item)
        if not pool:
            raise BenchmarkError(f"{where}: empty pool: no labelled paper in {files[0].path} has a {o['text']!r} text")
        texts = [t for t, _ in pool]
        labels = [lab for _, lab in pool]
        in_pool = sorted(set(labels))
        if len(in_pool) < 2:
            raise BenchmarkError(f"{where}: the pool of {len(pool)} has only {len(in_pool)} label ({in_pool}); raise pool_size")
        if len(texts) <= o["k"]:
            raise BenchmarkError(f"{where}: pool of {len(texts)} papers is too small for k = {o['k']}")
        names = ctx.label_names(spec.dataset, where)
        counts = {lab: labels.count(lab) for lab in in_pool}
        return Prepared(spec, {"texts": texts}, {"labels": labels, "label_names": names}, len(texts), files,
                        {"labels": len(in_pool), "label_counts": {names.get(k, k): v for k, v in counts.items()}})

    @classmethod
    def score(cls, prepared: Prepared, embeddings: dict[str, Any], distance) -> dict[str, Any]:
        o = prepared.spec.options
        x, labels = embeddings["texts"], prepared.data["labels"]
        per_item = knn_label_agreement_per_item(x, labels, distance, o["k"])
        out: dict[str, Any] = {"knn_agreement": float(per_item.mean()), "k": o["k"], PER_QUERY: per_item}
        counts = np.unique(labels, return_counts=True)[1] / len(labels)
        out["knn_agreement_random"] = float((counts ** 2).sum())  # expected agreement of a random neighbour
        if o["v_measure"]:
            out["v_measure"] = kmeans_v_measure(x, labels, distance, seed=prepared.spec.seed)
        return out


ENGINES = {e.type: e for e in (MatchingEngine, ClusteringEngine)}
