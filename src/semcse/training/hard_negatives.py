"""Hard negatives: each training paper's nearest other papers, mined with the base model (and, with
``TrainConfig.hard_negative_remine``, again with the model being trained at every later epoch).

A triplet's negative normally comes from a random other paper. With ``TrainConfig.hard_negatives``
set, that share of triplets takes its negative (of the same kind) from one of the anchor paper's
``candidates`` nearest papers instead, which the base model finds hardest to tell apart.

Mining: one query per paper (its first summary, else its title, else its abstract) is compared
by cosine similarity with every training paper's abstract. Candidates are the ``candidates``
most similar other abstracts; a candidate is dropped as a likely false negative (a paper about
the same thing) when the query is nearly as close to it as to its own abstract:
``sim(query, other) > (1 - relative_margin) * sim(query, own)`` (the relative margin of
sentence-transformers' ``mine_hard_negatives`` and NV-Retriever).

Topic guard (``TrainConfig.hard_negative_topics``): a paper's nearest papers are mostly papers of
its own topic, and pushing them apart spreads the topic out (topic agreement of the nearest papers
gets worse). With ``topics`` given (one topic per paper, see :mod:`semcse.training.topics`), papers
of the paper's own topic are not candidates: the nearest papers of other topics are mined instead.

Re-mining (:class:`HardNegativeRemining`): negatives that were hard for the base model become easy
once the model has learnt them; mining again with the current model at the start of each epoch
keeps them hard (ANCE, Xiong et al. 2021). Each epoch's neighbours are kept in the run's checkpoint
folder before they are used, so a resume replays them instead of mining with a later model.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from transformers import TrainerCallback

from semcse.training.prepared import PreparedPapers, cached_array

log = logging.getLogger(__name__)

NEIGHBOURS = "hard_negatives"  # <prepared data>/hard_negatives.npy and .json
NEIGHBOURS_FILE = f"{NEIGHBOURS}.npy"
REMINED = "hard-negatives"  # <out>/checkpoints/hard-negatives/epoch-<k>.npy and .json: re-mined per epoch


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
    same_topic_skipped: float | None = None  # with the topic guard: share of unguarded candidates in the paper's topic

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
                   block: int = 1024, topics: np.ndarray | None = None) -> tuple[np.ndarray, int, float | None]:
    """For every paper ``i``: the indices of up to ``candidates`` other papers whose abstracts are most
    similar to query ``i`` and pass the margin guard, most similar first, padded with -1.

    ``queries`` and ``abstracts`` are unit-norm row embeddings of the same papers; ``topics`` (optional,
    one topic per paper) leaves papers of the paper's own topic out. Returns the ``(n, candidates)``
    neighbour array, how many candidates the margin guard dropped and, with ``topics``, the share of
    the unguarded top ``candidates`` that the topic guard left out."""
    n = len(queries)
    k = min(candidates, n - 1)
    out = np.full((n, candidates), -1, dtype=np.int64)
    dropped = same_topic = 0
    topic_of = None if topics is None else torch.as_tensor(np.asarray(topics), device=queries.device)
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        sims = queries[lo:hi] @ abstracts.T
        rows = torch.arange(hi - lo)
        own = sims[rows, rows + lo].clone()
        sims[rows, rows + lo] = -torch.inf
        if topic_of is not None:
            mine = topic_of[lo:hi, None] == topic_of[None, :]
            same_topic += int(mine.gather(1, torch.topk(sims, k, dim=1).indices).sum())
            sims[mine] = -torch.inf
        top, idx = torch.topk(sims, k, dim=1)
        found = torch.isfinite(top)  # with the topic guard a row may have fewer than k other-topic papers
        too_close = top > (1.0 - relative_margin) * own[:, None]
        keep = found & ~too_close
        dropped += int((found & too_close).sum())
        for r in range(hi - lo):
            kept = idx[r][keep[r]].cpu().numpy()
            out[lo + r, :len(kept)] = kept
    return out, dropped, (None if topic_of is None else same_topic / max(1, n * k))


def mine_hard_negatives(model, papers: PreparedPapers, candidates: int = 10, relative_margin: float = 0.05,
                        batch_size: int = 64, progress: bool = True,
                        topics: np.ndarray | None = None) -> tuple[np.ndarray, MiningReport]:
    """Mine each paper's nearest other papers with ``model``; with ``topics`` (one per paper), only
    papers of other topics (see the module docstring)."""
    import time

    if candidates < 1:
        raise ValueError(f"hard_negative_candidates must be >= 1; got {candidates}")
    if not 0.0 <= relative_margin < 1.0:
        raise ValueError(f"hard_negative_margin must be in [0, 1); got {relative_margin}")
    started = time.perf_counter()
    n = len(papers)
    log.info("mining hard negatives: encoding %d queries and %d abstracts", n, n)
    queries = encode_unit(model, paper_queries(papers), batch_size, progress)
    abstracts = encode_unit(model, papers.take(papers.abstracts, np.arange(n)), batch_size, progress)
    neighbours, dropped, same_topic = nearest_papers(queries, abstracts, candidates, relative_margin, topics=topics)
    kept = (neighbours >= 0).sum(axis=1)
    report = MiningReport(papers=n, candidates=candidates, relative_margin=relative_margin,
                          kept_per_paper=round(float(kept.mean()), 2), dropped_by_margin=dropped,
                          papers_without_candidates=int((kept == 0).sum()),
                          seconds=round(time.perf_counter() - started, 1),
                          same_topic_skipped=None if same_topic is None else round(same_topic, 4))
    return neighbours, report


def neighbour_overlap(before: np.ndarray, after: np.ndarray) -> float:
    """Share of the kept candidates in ``after`` that were candidates of the same paper in ``before``."""
    same = kept = 0
    for old, new in zip(before, after):
        new = new[new >= 0]
        kept += len(new)
        same += int(np.isin(new, old[old >= 0]).sum())
    return same / kept if kept else 1.0


class HardNegativeRemining(TrainerCallback):
    """Mines the hard negatives again with the model being trained at the start of every epoch after
    the first and hands them to ``builder`` (an :class:`~semcse.training.examples.ExampleBuilder`),
    whose plan for that epoch is drawn after this callback runs.

    Epoch 0 keeps the builder's neighbours (mined with the base model) and share. Epoch ``k``'s are
    kept in ``directory`` as ``epoch-<k>.npy`` (with its mining report as JSON): a resume, or another
    rank, reads them back. ``reports``: one mining report per re-mined epoch, with ``overlap``, the
    share of candidates that were candidates in the epoch before.
    """

    def __init__(self, builder, candidates: int, margin: float, directory, key: dict[str, Any], batch_size: int = 64,
                 progress: bool = True, topics: np.ndarray | None = None):
        self.builder, self.share, self.previous = builder, builder.hard_share, builder.neighbours
        self.topics = topics
        self.candidates, self.margin = candidates, margin
        self.directory, self.key = Path(directory), key
        self.batch_size, self.progress = batch_size, progress
        self.reports: dict[int, dict[str, Any]] = {}

    def on_epoch_begin(self, args, state, control, model=None, **kwargs):
        epoch = int(np.floor((state.epoch or 0.0) + 1e-6))
        if epoch == 0 or model is None:
            return

        def mine():
            log.info("re-mining hard negatives for epoch %d with the model at step %d", epoch, state.global_step)
            neighbours, report = mine_hard_negatives(model, self.builder.papers, self.candidates, self.margin,
                                                     batch_size=self.batch_size, progress=self.progress,
                                                     topics=self.topics)
            report = {"epoch": epoch, "step": state.global_step, **report.to_dict(),
                      "overlap": round(neighbour_overlap(self.previous, neighbours), 4)}
            return neighbours, report

        neighbours, report = cached_array(self.directory, f"epoch-{epoch}", {**self.key, "epoch": epoch}, mine,
                                          wait=int(os.environ.get("LOCAL_RANK", "0")) != 0)
        self.builder.use_neighbours(neighbours, self.share)
        self.previous = neighbours
        self.reports[epoch] = report
        log.info("hard negatives for epoch %d: %.1f candidate papers kept per paper, %.0f%% of them also candidates "
                 "the epoch before", epoch, report["kept_per_paper"], 100 * report["overlap"])
