"""Semantic clustering (METHOD.md 5): papers with one topic label each; the score is the mean share of
each paper's k nearest neighbours (itself excluded) with its label (higher is better); the V-measure
of k-means with the true number of classes is reported beside it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from semcse.evaluation.engines import register
from semcse.evaluation.engines.base import PER_QUERY, Engine, Prepared, sample_pool
from semcse.evaluation.errors import BenchmarkError
from semcse.evaluation.metrics import kmeans_v_measure, knn_label_agreement_per_item
from semcse.evaluation.views import check_view, field_views

if TYPE_CHECKING:
    from semcse.evaluation.data import DataContext
    from semcse.evaluation.specs import TaskSpec


@register
class ClusteringEngine(Engine):
    """k-nearest-neighbour label agreement (k = 10) of labelled papers, plus V-measure of k-means."""

    type = "clustering"
    group = "semantic"
    POOLED = True
    OPTIONS = {"text": "text", "k": 10, "multi_label": "single", "v_measure": True, "map": True}
    metric = "knn_agreement"
    higher_is_better = True

    @classmethod
    def validate(cls, spec: "TaskSpec", where: str) -> None:
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
    def prepare(cls, spec: "TaskSpec", ctx: "DataContext", pool_size: int | None) -> Prepared:
        where = cls.where(spec, ctx)
        o = spec.options
        corpus = ctx.corpus(spec.dataset, where, field_views(o["text"]))
        files = ctx.data_files(spec)
        dspec = ctx.dataset_spec(spec.dataset)
        labelled = [p for p in corpus.papers if p.labels]
        if not labelled:
            raise BenchmarkError(f"{where}: dataset {spec.dataset!r} ({files[0].path}) has no labels "
                                 f"(label_field = {dspec.corpus.label_field!r}); clustering needs a label per paper")
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
