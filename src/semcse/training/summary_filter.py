"""Round-trip filtering of summaries: keep a summary only if it finds its own paper.

A summary that the base model cannot trace back to its own abstract (the abstract is not among
the ``top_k`` training abstracts nearest to it) is more likely off-topic, generic or hallucinated
than informative; consistency filtering of generated training data in the manner of Promptagator
(Dai et al., 2022) and InPars (Bonifacio et al., 2022). Similarity is the cosine of unit-norm
embeddings; ties count against the summary.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from semcse.training.hard_negatives import encode_unit
from semcse.training.prepared import PreparedPapers

log = logging.getLogger(__name__)

SUMMARY_FILTER = "summary_filter"  # <prepared data>/summary_filter.npy and .json


@dataclass
class FilterReport:
    """What filtering kept: summaries in and kept, papers that lost every summary, own-abstract ranks."""

    top_k: int
    summaries: int
    kept: int
    papers: int
    papers_without_summaries: int
    own_rank_median: float
    seconds: float

    @property
    def dropped(self) -> int:
        return self.summaries - self.kept

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__, dropped=self.dropped)


def own_abstract_ranks(summaries: torch.Tensor, owners: np.ndarray, abstracts: torch.Tensor, block: int = 1024) -> np.ndarray:
    """For unit-norm summary rows and abstract rows: how many abstracts are at least as close to each
    summary as its own abstract ``abstracts[owners[i]]`` is (0 = its own abstract is the nearest)."""
    ranks = np.empty(len(summaries), dtype=np.int64)
    owners_t = torch.as_tensor(owners, device=summaries.device)
    for lo in range(0, len(summaries), block):
        hi = min(len(summaries), lo + block)
        sims = summaries[lo:hi] @ abstracts.T
        own = sims.gather(1, owners_t[lo:hi, None])
        ranks[lo:hi] = ((sims >= own).sum(dim=1) - 1).cpu().numpy()
    return ranks


def round_trip_filter(model, papers: PreparedPapers, top_k: int, batch_size: int = 64, progress: bool = True,
                      chunk: int = 32768) -> tuple[np.ndarray, FilterReport]:
    """One keep flag per summary of ``papers`` (flat order): its own abstract is among the ``top_k``
    training abstracts nearest to it by ``model``. Summaries are encoded ``chunk`` at a time, so
    memory holds the abstracts' embeddings and one chunk, whatever the number of summaries."""
    from semcse.progress import Progress

    if top_k < 1:
        raise ValueError(f"filter_summaries (top k) must be >= 1; got {top_k}")
    started = time.perf_counter()
    n, total = len(papers), int(papers.summary_counts.sum())
    log.info("round-trip filtering: encoding %d abstracts and %d summaries with the base model", n, total)
    abstracts = encode_unit(model, papers.take(papers.abstracts, np.arange(n)), batch_size, progress)
    owners = np.repeat(np.arange(n), papers.summary_counts)
    ranks = np.empty(total, dtype=np.int64)
    bar = Progress("round-trip filtering", total, unit="summaries", enabled=progress)
    try:
        for lo in range(0, total, chunk):
            hi = min(total, lo + chunk)
            summaries = encode_unit(model, papers.take(papers.summaries, np.arange(lo, hi)), batch_size, False)
            ranks[lo:hi] = own_abstract_ranks(summaries, owners[lo:hi], abstracts)
            bar.advance(hi - lo)
    finally:
        bar.close()
    keep = ranks < top_k
    had = papers.summary_counts > 0
    left = np.bincount(owners[keep], minlength=n)
    report = FilterReport(top_k=top_k, summaries=total, kept=int(keep.sum()), papers=n,
                          papers_without_summaries=int((had & (left == 0)).sum()),
                          own_rank_median=float(np.median(ranks)) if total else 0.0,
                          seconds=round(time.perf_counter() - started, 1))
    return keep, report
