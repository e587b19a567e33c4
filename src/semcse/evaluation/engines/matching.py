"""Matching tasks of the semantic benchmark (METHOD.md 5): title-abstract matching, abstract-segment
consistency, query matching and summary-abstract matching.

Each paper contributes query text(s) (a *view* of the paper) and one candidate text; every query
ranks all candidates of the pool by the model's own distance and the score is the mean 1-based
rank of its partner (lower is better), with MRR and recall@1.

Views: ``title``, ``abstract``, ``text`` (title + abstract), ``first_half`` / ``second_half`` (the
abstract split by sentences: the first floor(n/2) sentences and the rest, as ``semcse.sentences.split_halves``), ``field:NAME`` (a string or
list of strings in the data), ``generated`` (texts of a ``semcse summarize --task queries`` run,
``queries_from``, filtered by ``query_prompts``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semcse.evaluation.engines import register
from semcse.evaluation.engines.base import PER_QUERY, Engine, Prepared, sample_pool
from semcse.evaluation.errors import BenchmarkError, TaskSkipped
from semcse.evaluation.metrics import partner_ranks, rank_metrics
from semcse.evaluation.views import check_view, field_views

if TYPE_CHECKING:
    from semcse.evaluation.data import DataContext
    from semcse.evaluation.specs import TaskSpec


@register
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
    def validate(cls, spec: "TaskSpec", where: str) -> None:
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
    def _generated(cls, spec: "TaskSpec", ctx: "DataContext", where: str) -> tuple[dict[str, list[str]], Path]:
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
    def prepare(cls, spec: "TaskSpec", ctx: "DataContext", pool_size: int | None) -> Prepared:
        where = cls.where(spec, ctx)
        o = spec.options
        generated, run = (cls._generated(spec, ctx, where) if o["query"] == "generated" else (None, None))
        corpus = ctx.corpus(spec.dataset, where, field_views(o["query"], o["candidate"]))
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
