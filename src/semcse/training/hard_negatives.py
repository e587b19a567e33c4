"""Hard negatives: each training paper's nearest other papers, mined once with the base model.

A triplet's negative normally comes from a random other paper. With ``TrainConfig.hard_negatives``
set, that share of triplets takes its negative (of the same kind) from one of the anchor paper's
``candidates`` nearest papers instead, which the base model finds hardest to tell apart.

Mining: one query per paper (its first summary, else its title, else its abstract) is compared
by cosine similarity with every training paper's abstract. Candidates are the ``candidates``
most similar other abstracts; a candidate is dropped as a likely false negative (a paper about
the same thing) when the query is nearly as close to it as to its own abstract:
``sim(query, other) > (1 - relative_margin) * sim(query, own)`` (the relative margin of
sentence-transformers' ``mine_hard_negatives`` and NV-Retriever).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from semcse.training.prepared import PreparedPapers

log = logging.getLogger(__name__)

NEIGHBOURS = "hard_negatives"  # <prepared data>/hard_negatives.npy and .json
NEIGHBOURS_FILE = f"{NEIGHBOURS}.npy"


@dataclass
class MiningReport:
    """What mining found: papers, candidates kept per paper, and those dropped by the margin guard."""

    papers: int
    candidates: int
    relative_margin: float
    kept_per_paper: float
    dropped_by_margin: int
    papers_without_candidates: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def paper_queries(papers: PreparedPapers) -> list[str]:
    """One text per paper that stands for it as a query: its first summary, else title, else abstract."""
    n = len(papers)
    titles = papers.take(papers.titles, np.arange(n))
    abstracts = papers.take(papers.abstracts, np.arange(n))
    has_summary = papers.summary_counts > 0
    firsts = iter(papers.take(papers.summaries, papers.summary_offsets[:n][has_summary]))
    return [next(firsts) if has_summary[i] else (titles[i] or abstracts[i]) for i in range(n)]


def encode_unit(model, texts: list[str], batch_size: int, progress: bool) -> torch.Tensor:
    """Unit-norm float32 embeddings of ``texts`` (rows), as a tensor on the model's device."""
    return model.encode(texts, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True,
                        show_progress_bar=progress).float()


def nearest_papers(queries: torch.Tensor, abstracts: torch.Tensor, candidates: int, relative_margin: float,
                   block: int = 1024) -> tuple[np.ndarray, int]:
    """For every paper ``i``: the indices of up to ``candidates`` other papers whose abstracts are most
    similar to query ``i`` and pass the margin guard, most similar first, padded with -1.

    ``queries`` and ``abstracts`` are unit-norm row embeddings of the same papers. Returns the
    ``(n, candidates)`` neighbour array and how many candidates the guard dropped."""
    n = len(queries)
    k = min(candidates, n - 1)
    out = np.full((n, candidates), -1, dtype=np.int64)
    dropped = 0
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        sims = queries[lo:hi] @ abstracts.T
        rows = torch.arange(hi - lo)
        own = sims[rows, rows + lo].clone()
        sims[rows, rows + lo] = -torch.inf
        top, idx = torch.topk(sims, k, dim=1)
        keep = top <= (1.0 - relative_margin) * own[:, None]
        dropped += int((~keep).sum())
        for r in range(hi - lo):
            kept = idx[r][keep[r]].cpu().numpy()
            out[lo + r, :len(kept)] = kept
    return out, dropped


def mine_hard_negatives(model, papers: PreparedPapers, candidates: int = 10, relative_margin: float = 0.05,
                        batch_size: int = 64, progress: bool = True) -> tuple[np.ndarray, MiningReport]:
    """Mine each paper's nearest other papers with ``model`` (see the module docstring)."""
    import time

    if candidates < 1:
        raise ValueError(f"hard_negative_candidates must be >= 1; got {candidates}")
    if not 0.0 <= relative_margin < 1.0:
        raise ValueError(f"hard_negative_margin must be in [0, 1); got {relative_margin}")
    started = time.perf_counter()
    n = len(papers)
    log.info("mining hard negatives: encoding %d queries and %d abstracts with the base model", n, n)
    queries = encode_unit(model, paper_queries(papers), batch_size, progress)
    abstracts = encode_unit(model, papers.take(papers.abstracts, np.arange(n)), batch_size, progress)
    neighbours, dropped = nearest_papers(queries, abstracts, candidates, relative_margin)
    kept = (neighbours >= 0).sum(axis=1)
    report = MiningReport(papers=n, candidates=candidates, relative_margin=relative_margin,
                          kept_per_paper=round(float(kept.mean()), 2), dropped_by_margin=dropped,
                          papers_without_candidates=int((kept == 0).sum()),
                          seconds=round(time.perf_counter() - started, 1))
    return neighbours, report
