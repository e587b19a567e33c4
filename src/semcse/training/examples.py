"""Training examples: triplets drawn from training papers.

For an anchor summary of paper i the positive is another summary of i, the title of i, a
sentence (or short span) of i's abstract or (optionally) i's whole abstract, drawn with the
configured probabilities among the kinds the paper has (METHOD.md 3). The negative is a text of
the same kind from another training paper. Optionally titles and abstract spans are anchors too
(``title_anchors``, ``span_anchors``): a title anchor takes a summary, a span or the abstract as its
positive; a span anchor lies in one half of the abstract and takes a summary, the title or a span
of the other half (never the abstract, which contains it). Papers without summaries (when they
train) give only title and span anchors.
Triplets are drawn afresh for every epoch from ``(seed, epoch)``, so runs and resumes repeat.
The papers themselves (matching, the split) are :mod:`semcse.training.papers`; the lazy training
set's transform is :mod:`semcse.training.lazy_set`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from semcse.training.papers import TrainingDataError, TrainingPaper
from semcse.training.prepared import PreparedPapers

KINDS = ("summary", "title", "sentence", "abstract")  # "abstract": the whole abstract (also the fallback kind)
KIND_INDEX = {k: i for i, k in enumerate(KINDS)}
SUMMARY, TITLE, SENTENCE, ABSTRACT = range(len(KINDS))


@dataclass(frozen=True)
class Triplet:
    """One training example; ``paper`` and ``negative_paper`` index the builder's paper list."""

    anchor: str
    positive: str
    negative: str
    kind: str
    paper: int
    negative_paper: int


@dataclass
class PositiveMix:
    """Requested probabilities of the positive kinds (renormalised over the kinds a paper has)."""

    summary: float = 0.50
    title: float = 0.15
    sentence: float = 0.35
    abstract: float = 0.0  # the whole abstract (never for span anchors, which lie inside it)

    def __post_init__(self) -> None:
        values = (self.summary, self.title, self.sentence, self.abstract)
        if any(v < 0 for v in values) or sum(values) <= 0:
            raise ValueError(f"positive mix must be non-negative with a positive sum; got {values}")

    def weight(self, kind: str) -> float:
        return getattr(self, kind)


@dataclass(frozen=True)
class TripletPlan:
    """One epoch's triplets as index arrays (texts are fetched per batch by :meth:`ExampleBuilder.texts`).

    Row r: the anchor is of kind ``anchor_kind[r]`` from paper ``paper[r]`` (a summary unless title or
    span anchors are on), starting at ``anchor[r]``; the positive is of kind ``kind[r]`` from the same
    paper, the negative of kind ``neg_kind[r]`` from paper ``neg_paper[r]``. For summaries ``anchor`` /
    ``*_start`` is the summary's flat index, for sentence spans the first sentence's flat index and
    ``*_len`` the number of sentences (-1 / 0 for titles and abstracts). ``hard[r]``: the negative paper
    is one of the anchor paper's mined nearest papers (see :mod:`semcse.training.hard_negatives`).
    """

    paper: np.ndarray
    anchor: np.ndarray
    kind: np.ndarray
    pos_start: np.ndarray
    pos_len: np.ndarray
    neg_paper: np.ndarray
    neg_kind: np.ndarray
    neg_start: np.ndarray
    neg_len: np.ndarray
    hard: np.ndarray | None = None
    anchor_kind: np.ndarray | None = None  # None: every anchor is a summary
    anchor_len: np.ndarray | None = None

    def anchor_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """(kind, length) of every row's anchor."""
        if self.anchor_kind is None:
            return np.full(len(self), SUMMARY, np.int8), np.ones(len(self), np.int64)
        return self.anchor_kind, self.anchor_len

    def __len__(self) -> int:
        return len(self.paper)


class ExampleBuilder:
    """Draws the (anchor, positive, negative) triplets of one epoch from training papers.

    An epoch is drawn as a :class:`TripletPlan` (NumPy index arrays, vectorised, determined by
    ``(seed, epoch)``); memory grows with the number of papers, not of triplets, and texts are
    fetched only for the rows asked for (:meth:`texts`).
    """

    def __init__(self, papers: Sequence[TrainingPaper] | PreparedPapers, mix: PositiveMix | None = None,
                 max_span_sentences: int = 3, anchors_per_paper: int | None = None, seed: int = 42,
                 neighbours: np.ndarray | None = None, hard_share: float = 0.0, title_anchors: bool = False,
                 span_anchors: int = 0):
        self.papers = papers if isinstance(papers, PreparedPapers) else PreparedPapers.from_papers(list(papers))
        if len(self.papers) < 2:
            raise TrainingDataError(f"need at least 2 training papers to draw negatives; got {len(self.papers)}")
        if max_span_sentences < 1:
            raise ValueError("max_span_sentences must be >= 1")
        self.mix = mix or PositiveMix()
        self.max_span = max_span_sentences
        self.anchors_per_paper = anchors_per_paper
        if span_anchors < 0:
            raise ValueError(f"span_anchors must be >= 0; got {span_anchors}")
        self.title_anchors, self.span_anchors = title_anchors, span_anchors
        self.seed = seed
        self.use_summaries(None)
        self.use_neighbours(neighbours, hard_share)
        self.topics: np.ndarray | None = None

    def use_summaries(self, keep: np.ndarray | None) -> None:
        """Train only on the summaries where ``keep`` (one flag per summary of ``papers``, in their
        flat order) is true, e.g. those that pass round-trip filtering; ``None``: every summary.
        A paper left without summaries still serves titles and spans (as anchors when they are on)."""
        P = self.papers
        n = len(P)
        if keep is None:
            self._summary_rows = None
            self.summary_counts, self.summary_offsets = P.summary_counts, P.summary_offsets
            self.summary_lengths = P.summary_lengths
        else:
            keep = np.asarray(keep, dtype=bool)
            if keep.shape != (int(P.summary_counts.sum()),):
                raise ValueError(f"keep must have one flag per summary ({int(P.summary_counts.sum())}); got {keep.shape}")
            self._summary_rows = np.flatnonzero(keep)
            owner = np.repeat(np.arange(n), P.summary_counts)
            self.summary_counts = np.bincount(owner[self._summary_rows], minlength=n).astype(np.int64)
            self.summary_offsets = np.concatenate([[0], np.cumsum(self.summary_counts)])
            self.summary_lengths = P.summary_lengths[self._summary_rows]
        counts = self.summary_counts
        weights = np.array([self.mix.weight(k) for k in KINDS])
        has_summary, has_sentences = counts >= 1, P.sentence_counts >= 1
        everyone, no_one = np.ones(n, bool), np.zeros(n, bool)
        # the positive kinds each paper offers, per anchor kind (a text is never its own positive)
        self._weights = {
            SUMMARY: np.stack([counts >= 2, P.has_title, P.sentence_counts >= 2, everyone], axis=1) * weights,
            TITLE: np.stack([has_summary, no_one, has_sentences, everyone], axis=1) * weights,
            SENTENCE: np.stack([has_summary, P.has_title, P.sentence_counts >= 2, no_one], axis=1) * weights,
        }
        self._title_anchor_papers = np.flatnonzero(P.has_title) if self.title_anchors else np.zeros(0, np.int64)
        self._span_anchor_papers = np.repeat(np.flatnonzero(P.sentence_counts >= 2), self.span_anchors)
        # papers that can give a negative of each kind
        self._pools = [np.flatnonzero(has_summary), np.flatnonzero(P.has_title), np.flatnonzero(P.sentence_counts >= 2),
                       np.arange(n)]
        self._has_kind = np.zeros((len(KINDS), n), dtype=bool)
        for k, pool in enumerate(self._pools):
            self._has_kind[k, pool] = True
        self._plans: dict[int, TripletPlan] = {}

    def use_neighbours(self, neighbours: np.ndarray | None, hard_share: float) -> None:
        """Draw the negative paper of a ``hard_share`` of triplets from ``neighbours[paper]`` (each
        paper's nearest other papers, most similar first, padded with -1)."""
        if not 0.0 <= hard_share <= 1.0:
            raise ValueError(f"hard_negatives must be a share in [0, 1]; got {hard_share}")
        if neighbours is not None and (neighbours.ndim != 2 or len(neighbours) != len(self.papers)):
            raise ValueError(f"neighbours must have one row per training paper ({len(self.papers)}); got {neighbours.shape}")
        self.neighbours = neighbours if hard_share > 0 else None
        self.hard_share = hard_share if neighbours is not None else 0.0
        self._kept = None if self.neighbours is None else (self.neighbours >= 0).sum(axis=1)
        self._plans = {}

    def anchors_per_epoch(self) -> int:
        counts = self.summary_counts
        k = self.anchors_per_paper
        summaries = int(counts.sum() if k is None else np.minimum(counts, k).sum())
        return summaries + len(self._title_anchor_papers) + len(self._span_anchor_papers)

    # ---- drawing -------------------------------------------------------------------------------

    def _anchors(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        P, k = self.papers, self.anchors_per_paper
        owner = np.repeat(np.arange(len(P)), self.summary_counts)
        flat = np.arange(len(owner))
        if k is None or (self.summary_counts <= k).all():
            return owner, flat
        order = np.lexsort((rng.random(len(owner)), owner))  # a random order of each paper's summaries
        rank = np.arange(len(owner)) - self.summary_offsets[owner[order]]
        keep = np.sort(order[rank < k])
        return owner[keep], flat[keep]

    def _span(self, rng: np.random.Generator, papers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A random span of 1..max_span sentences (never the whole abstract) of each paper."""
        n = self.papers.sentence_counts[papers]
        return self._span_within(rng, papers, np.zeros_like(n), n, np.maximum(1, np.minimum(self.max_span, n - 1)))

    def _span_within(self, rng: np.random.Generator, papers: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                     longest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A random span of 1..longest sentences inside sentences [lo, hi) of each paper (flat start, length)."""
        length = 1 + (rng.random(len(papers)) * longest).astype(np.int64)
        start = lo + (rng.random(len(papers)) * np.maximum(1, hi - lo - length + 1)).astype(np.int64)
        return self.papers.sentence_offsets[papers] + start, length

    def _half_spans(self, rng: np.random.Generator, papers: np.ndarray) -> tuple[np.ndarray, ...]:
        """For span anchors: a span in one half of each abstract (``sentences.split_halves``: the first
        floor(n/2) sentences) and the other half's bounds, for a positive that never overlaps it."""
        n = self.papers.sentence_counts[papers]
        half = n // 2
        first = rng.random(len(papers)) < 0.5
        lo, hi = np.where(first, 0, half), np.where(first, half, n)
        start, length = self._span_within(rng, papers, lo, hi, np.minimum(self.max_span, hi - lo))
        other_lo, other_hi = np.where(first, half, 0), np.where(first, n, half)
        return start, length, other_lo, other_hi

    def _other_papers(self, rng: np.random.Generator, kind: int, papers: np.ndarray) -> np.ndarray:
        pool = self._pools[kind]
        j = pool[(rng.random(len(papers)) * len(pool)).astype(np.int64)]
        clash = np.flatnonzero(j == papers)
        while len(clash):
            j[clash] = pool[(rng.random(len(clash)) * len(pool)).astype(np.int64)]
            clash = clash[j[clash] == papers[clash]]
        return j

    def _hard_negatives(self, rng: np.random.Generator, paper: np.ndarray, neg_kind: np.ndarray,
                        neg_paper: np.ndarray) -> np.ndarray:
        """Replace the negative paper of a ``hard_share`` of rows by a random one of the anchor paper's
        mined neighbours that has the negative's kind (in place); returns which rows were replaced."""
        m = len(paper)
        kept = self._kept[paper]
        chosen = (rng.random(m) < self.hard_share) & (kept > 0)
        column = (rng.random(m) * np.maximum(kept, 1)).astype(np.int64)
        candidate = self.neighbours[paper, column]
        rows = np.flatnonzero(chosen)
        chosen[rows] = self._has_kind[neg_kind[rows], candidate[rows]]
        neg_paper[chosen] = candidate[chosen]
        return chosen

    def plan(self, epoch: int) -> TripletPlan:
        """The triplets of ``epoch``: every summary (or ``anchors_per_paper`` of them) is an anchor once."""
        if epoch in self._plans:
            return self._plans[epoch]
        rng = np.random.default_rng([self.seed, epoch])
        paper, anchor = self._anchors(rng)
        n_summary, n_title = len(paper), len(self._title_anchor_papers)
        spans = self._half_spans(rng, self._span_anchor_papers)
        paper = np.concatenate([paper, self._title_anchor_papers, self._span_anchor_papers])
        anchor = np.concatenate([anchor, np.full(n_title, -1, np.int64), spans[0]])
        anchor_len = np.concatenate([np.ones(n_summary, np.int64), np.zeros(n_title, np.int64), spans[1]])
        anchor_kind = np.repeat(np.array([SUMMARY, TITLE, SENTENCE], np.int8), [n_summary, n_title, len(spans[0])])
        m = len(paper)
        weights = np.concatenate([self._weights[SUMMARY][paper[:n_summary]],
                                  self._weights[TITLE][paper[n_summary:n_summary + n_title]],
                                  self._weights[SENTENCE][paper[n_summary + n_title:]]])
        total = weights.sum(axis=1)
        u = rng.random(m) * total
        above = np.cumsum(weights, axis=1) > u[:, None]
        last = len(KINDS) - 1 - np.argmax(weights[:, ::-1] > 0, axis=1)  # u == total only by rounding
        drawn = np.where(above.any(axis=1), np.argmax(above, axis=1), last)
        kind = np.where(total > 0, drawn, ABSTRACT)
        pos_start, pos_len = np.full(m, -1, np.int64), np.zeros(m, np.int64)
        rows = np.flatnonzero(kind == SUMMARY)  # another summary of the same paper (any, for other anchors)
        p = paper[rows]
        from_summary = anchor_kind[rows] == SUMMARY
        counts, offsets = self.summary_counts, self.summary_offsets
        r = (rng.random(len(rows)) * (counts[p] - from_summary)).astype(np.int64)
        local = np.where(from_summary, anchor[rows] - offsets[p], counts[p])
        pos_start[rows], pos_len[rows] = offsets[p] + r + (r >= local), 1
        rows = np.flatnonzero((kind == SENTENCE) & (anchor_kind != SENTENCE))
        pos_start[rows], pos_len[rows] = self._span(rng, paper[rows])
        rows = np.flatnonzero((kind == SENTENCE) & (anchor_kind == SENTENCE))  # a span of the other half
        span_rows = rows - n_summary - n_title
        other_lo, other_hi = spans[2][span_rows], spans[3][span_rows]
        pos_start[rows], pos_len[rows] = self._span_within(rng, paper[rows], other_lo, other_hi,
                                                           np.minimum(self.max_span, other_hi - other_lo))

        neg_kind = kind.copy()
        for k, pool in enumerate(self._pools):  # no other paper has this kind: a summary of another paper
            if len(pool) <= 1:
                rows = np.flatnonzero(kind == k)
                lonely = rows if len(pool) == 0 else rows[paper[rows] == pool[0]]
                neg_kind[lonely] = SUMMARY
        neg_paper = np.zeros(m, np.int64)
        neg_start, neg_len = np.full(m, -1, np.int64), np.zeros(m, np.int64)
        for k in range(len(KINDS)):
            rows = np.flatnonzero(neg_kind == k)
            if len(rows):
                neg_paper[rows] = self._other_papers(rng, k, paper[rows])
        hard = self._hard_negatives(rng, paper, neg_kind, neg_paper) if self.neighbours is not None else None
        rows = np.flatnonzero(neg_kind == SUMMARY)
        j = neg_paper[rows]
        neg_start[rows] = offsets[j] + (rng.random(len(rows)) * counts[j]).astype(np.int64)
        neg_len[rows] = 1
        rows = np.flatnonzero(neg_kind == SENTENCE)
        neg_start[rows], neg_len[rows] = self._span(rng, neg_paper[rows])
        plan = TripletPlan(paper, anchor, kind.astype(np.int8), pos_start, pos_len, neg_paper,
                           neg_kind.astype(np.int8), neg_start, neg_len, hard,
                           *((anchor_kind, anchor_len) if n_summary < m else (None, None)))
        self._plans = {epoch: plan}  # one epoch at a time in memory
        return plan

    # ---- texts ---------------------------------------------------------------------------------

    def _fetch(self, kind: np.ndarray, paper: np.ndarray, start: np.ndarray, length: np.ndarray) -> list[str]:
        P = self.papers
        out = [""] * len(kind)
        for k in range(len(KINDS)):
            rows = np.flatnonzero(kind == k)
            if not len(rows):
                continue
            if k == SUMMARY:
                flat = start[rows] if self._summary_rows is None else self._summary_rows[start[rows]]
                texts = P.take(P.summaries, flat)
            elif k == TITLE:
                texts = [t or "" for t in P.take(P.titles, paper[rows])]
            elif k == ABSTRACT:
                texts = P.take(P.abstracts, paper[rows])
            else:
                idx = np.concatenate([np.arange(s, s + n) for s, n in zip(start[rows], length[rows])])
                flat = iter(P.take(P.sentences, idx))
                texts = [" ".join(next(flat) for _ in range(n)) for n in length[rows]]
            for row, text in zip(rows, texts):
                out[row] = text
        return out

    def texts(self, plan: TripletPlan, rows: np.ndarray) -> dict[str, list]:
        """Columns of the given plan rows: anchor, positive, negative texts and ``label = [paper, negative_paper, kind]``."""
        rows = np.asarray(rows, dtype=np.int64)
        paper = plan.paper[rows]
        anchor_kind, anchor_len = plan.anchor_columns()
        return {
            "anchor": self._fetch(anchor_kind[rows], paper, plan.anchor[rows], anchor_len[rows]),
            "positive": self._fetch(plan.kind[rows], paper, plan.pos_start[rows], plan.pos_len[rows]),
            "negative": self._fetch(plan.neg_kind[rows], plan.neg_paper[rows], plan.neg_start[rows], plan.neg_len[rows]),
            "label": [[int(a), int(b), int(c)] for a, b, c in zip(paper, plan.neg_paper[rows], plan.kind[rows])],
        }

    def _text_lengths(self, kind: np.ndarray, paper: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
        P = self.papers
        # np.select evaluates every branch on every row: clip each index into its own array
        last = len(P.sentence_cumlen) - 1
        first, end = np.clip(start, 0, last), np.clip(start + length, 0, last)
        span = P.sentence_cumlen[end] - P.sentence_cumlen[first] + np.maximum(0, length - 1)
        summary_lengths = self.summary_lengths if len(self.summary_lengths) else np.zeros(1, np.int64)  # no summaries
        summary = summary_lengths[np.clip(start, 0, len(summary_lengths) - 1)]
        return np.select([kind == SUMMARY, kind == TITLE, kind == SENTENCE], [summary, P.title_lengths[paper], span],
                         P.abstract_lengths[paper])

    def lengths(self, plan: TripletPlan) -> np.ndarray:
        """Characters of anchor + positive + negative of every row (for length-grouped batches)."""
        anchor_kind, anchor_len = plan.anchor_columns()
        return (self._text_lengths(anchor_kind, plan.paper, plan.anchor, anchor_len)
                + self._text_lengths(plan.kind, plan.paper, plan.pos_start, plan.pos_len)
                + self._text_lengths(plan.neg_kind, plan.neg_paper, plan.neg_start, plan.neg_len))

    def kinds_and_lengths(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        plan = self.plan(epoch)
        return plan.kind.astype(np.int64), self.lengths(plan)

    def use_topics(self, topics: np.ndarray | None) -> None:
        """One topic per training paper (see :mod:`semcse.training.topics`), or ``None``: no topic batches."""
        if topics is not None and np.shape(topics) != (len(self.papers),):
            raise ValueError(f"topics must have one entry per training paper ({len(self.papers)}); got {np.shape(topics)}")
        self.topics = None if topics is None else np.asarray(topics, dtype=np.int64)

    def row_topics(self, epoch: int) -> np.ndarray | None:
        """The topic of each row's anchor paper in ``epoch``'s plan (``None`` without topics)."""
        return None if self.topics is None else self.topics[self.plan(epoch).paper]

    def epoch(self, epoch: int) -> list[Triplet]:
        """All triplets of one epoch as objects (small corpora, tests; training uses :meth:`plan`)."""
        plan = self.plan(epoch)
        cols = self.texts(plan, np.arange(len(plan)))
        return [Triplet(a, p, n, KINDS[k], i, j) for a, p, n, (i, j, k) in
                zip(cols["anchor"], cols["positive"], cols["negative"], cols["label"])]


def mix_report(triplets: Sequence[Triplet] | np.ndarray, mix: PositiveMix) -> dict[str, Any]:
    """Realised share of each positive kind (triplets, or a plan's kind indices) against the requested one."""
    if isinstance(triplets, np.ndarray):
        counts = Counter({KINDS[k]: int(c) for k, c in enumerate(np.bincount(triplets, minlength=len(KINDS)))})
    else:
        counts = Counter(t.kind for t in triplets)
    total = max(1, sum(counts.values()))
    requested_total = sum(mix.weight(k) for k in KINDS)
    return {
        "triplets": sum(counts.values()),
        "counts": {k: counts.get(k, 0) for k in KINDS},
        "realised": {k: round(counts.get(k, 0) / total, 4) for k in KINDS},
        "requested": {k: round(mix.weight(k) / requested_total, 4) for k in KINDS},
    }


def triplet_columns(triplets: Sequence[Triplet]) -> dict[str, list]:
    """Columns for a ``datasets.Dataset``: texts plus a label row ``[paper, negative_paper, kind]``.

    The label travels to the loss (sentence-transformers passes the ``label`` column), which uses it
    to mask in-batch negatives from the anchor's own paper.
    """
    return {
        "anchor": [t.anchor for t in triplets],
        "positive": [t.positive for t in triplets],
        "negative": [t.negative for t in triplets],
        "label": [[t.paper, t.negative_paper, KIND_INDEX[t.kind]] for t in triplets],
    }
