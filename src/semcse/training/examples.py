"""Training examples: papers with their summaries, the train/validation split, and triplets.

For an anchor summary of paper i the positive is another summary of i, the title of i or a
sentence (or short span) of i's abstract, drawn with the configured probabilities among the kinds
the paper has (METHOD.md 3). The negative is a text of the same kind from another training paper.
Triplets are drawn afresh for every epoch from ``(seed, epoch)``, so runs and resumes repeat.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from semcse.corpus import Corpus, Paper
from semcse.sentences import split_sentences

log = logging.getLogger(__name__)

KINDS = ("summary", "title", "sentence", "abstract")  # "abstract": fallback when a paper has no other kind
KIND_INDEX = {k: i for i, k in enumerate(KINDS)}


class TrainingDataError(ValueError):
    """Training data that cannot be used (no summaries, no papers, summaries of another corpus, ...)."""


@dataclass
class TrainingPaper:
    """A paper prepared for training: its summaries (deduplicated), title and abstract sentences."""

    id: str
    title: str | None
    abstract: str
    sentences: list[str]
    summaries: list[str]

    def positive_kinds(self) -> list[str]:
        """The positive kinds this paper can provide (besides the whole-abstract fallback)."""
        kinds = []
        if len(self.summaries) >= 2:
            kinds.append("summary")
        if self.title:
            kinds.append("title")
        if len(self.sentences) >= 2:
            kinds.append("sentence")
        return kinds


@dataclass
class DataReport:
    """How corpus and summaries were matched, for the log and the training metrics."""

    corpus_papers: int = 0
    summary_papers: int = 0
    summaries: int = 0
    papers_used: int = 0
    corpus_without_summaries: int = 0
    summaries_without_paper: int = 0
    unmatched_examples: list[str] = field(default_factory=list)
    one_summary: int = 0
    no_title: int = 0
    one_sentence: int = 0
    no_positive_kind: int = 0
    train_papers: int = 0
    validation_papers: int = 0
    validation_unsummarised: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def lines(self) -> list[str]:
        return [
            f"{self.papers_used} papers with summaries used ({self.summaries} summaries; corpus {self.corpus_papers} papers, "
            f"{self.corpus_without_summaries} without summaries; {self.summaries_without_paper} summarised ids not in the corpus)",
            f"fallbacks: {self.one_summary} papers with one summary, {self.no_title} without title, "
            f"{self.one_sentence} with a one-sentence abstract, {self.no_positive_kind} with none of the three kinds "
            "(positive = whole abstract)",
            f"split by paper: {self.train_papers} train, {self.validation_papers} validation"
            + (f" (+ {self.validation_unsummarised} corpus papers without summaries in the title-abstract and "
               "abstract-halves validation pools)" if self.validation_unsummarised else ""),
        ]


def _dedupe(texts: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for t in texts:
        t = " ".join(str(t).split())
        if t and t not in seen:
            seen.add(t)
            out.append(t)
    return out


def _training_paper(paper: Paper, summaries: list[str]) -> TrainingPaper:
    """A corpus paper with its (deduplicated) summaries, a cleaned title and its abstract's sentences."""
    sentences = [s for s in (paper.sentences or split_sentences(paper.abstract)) if s.strip()] or [paper.abstract]
    return TrainingPaper(id=paper.id, title=(paper.title or "").strip() or None, abstract=paper.abstract,
                         sentences=sentences, summaries=summaries)


def prepare_papers(corpus: Corpus | Sequence[Paper], summaries_by_paper: Mapping[str, Sequence[str]],
                   summaries_source: str = "summaries") -> tuple[list[TrainingPaper], DataReport]:
    """Match corpus papers with their summaries; papers without summaries are left out.

    Raises :class:`TrainingDataError` for an empty corpus, no summaries at all, or summaries whose
    paper ids match none of the corpus (a store made from another corpus).
    """
    papers = list(corpus.papers if isinstance(corpus, Corpus) else corpus)
    if not papers:
        raise TrainingDataError("the corpus has no papers")
    n_summaries = sum(len(v) for v in summaries_by_paper.values())
    if not summaries_by_paper or n_summaries == 0:
        raise TrainingDataError(f"{summaries_source}: no accepted summaries for any paper; run `semcse summarize` "
                                "or import summaries first")
    corpus_ids = {p.id for p in papers}
    unmatched = [pid for pid in summaries_by_paper if pid not in corpus_ids]
    report = DataReport(corpus_papers=len(papers), summary_papers=len(summaries_by_paper), summaries=0,
                        summaries_without_paper=len(unmatched), unmatched_examples=sorted(unmatched)[:5])
    if len(unmatched) == len(summaries_by_paper):
        raise TrainingDataError(
            f"{summaries_source}: none of the {len(summaries_by_paper)} summarised paper ids occurs in the corpus "
            f"(summary ids e.g. {sorted(summaries_by_paper)[:3]}, corpus ids e.g. {sorted(corpus_ids)[:3]}); "
            "are the summaries from another corpus, or is the corpus id field different (--id-field)?")
    if unmatched:
        log.warning("%s: %d of %d summarised paper ids are not in the corpus and are ignored (e.g. %s)",
                    summaries_source, len(unmatched), len(summaries_by_paper), ", ".join(report.unmatched_examples))
    out: list[TrainingPaper] = []
    for p in papers:
        texts = _dedupe(summaries_by_paper.get(p.id, ()))
        if not texts:
            report.corpus_without_summaries += 1
            continue
        tp = _training_paper(p, texts)
        out.append(tp)
        report.summaries += len(texts)
        report.one_summary += len(texts) < 2
        report.no_title += tp.title is None
        report.one_sentence += len(tp.sentences) < 2
        report.no_positive_kind += not tp.positive_kinds()
    report.papers_used = len(out)
    return out, report


def unsummarised_papers(corpus: Corpus | Sequence[Paper], summaries_by_paper: Mapping[str, Sequence[str]],
                        limit: int, seed: int) -> list[TrainingPaper]:
    """Up to ``limit`` corpus papers that have no summaries, drawn with a fixed seed, for validation.

    They are never trained on (training needs summaries as anchors), so they can enlarge the
    title-abstract and abstract-halves validation pools at no risk of leakage.
    """
    papers = list(corpus.papers if isinstance(corpus, Corpus) else corpus)
    candidates = sorted((p for p in papers if not _dedupe(summaries_by_paper.get(p.id, ()))), key=lambda p: p.id)
    random.Random(f"unsummarised:{seed}").shuffle(candidates)
    return [_training_paper(p, []) for p in candidates[:max(0, limit)]]


def split_by_paper(papers: Sequence[TrainingPaper], validation: float, seed: int,
                   max_validation: int | None = None) -> tuple[list[TrainingPaper], list[TrainingPaper]]:
    """Split papers (never examples) into train and validation with a fixed seed.

    ``validation`` is a fraction (< 1) or a number of papers (>= 1). At least 2 papers go to each
    side; fewer than 4 papers raise :class:`TrainingDataError`.
    """
    if len(papers) < 4:
        raise TrainingDataError(f"need at least 4 papers with summaries (2 train, 2 validation); got {len(papers)}")
    n_val = int(round(validation * len(papers))) if validation < 1 else int(validation)
    if max_validation is not None:
        n_val = min(n_val, max_validation)
    n_val = min(max(n_val, 2), len(papers) - 2)
    order = sorted(range(len(papers)), key=lambda i: papers[i].id)
    random.Random(f"split:{seed}").shuffle(order)
    val_idx = set(order[:n_val])
    train = [p for i, p in enumerate(papers) if i not in val_idx]
    val = [p for i, p in enumerate(papers) if i in val_idx]
    return train, val


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

    def __post_init__(self) -> None:
        values = (self.summary, self.title, self.sentence)
        if any(v < 0 for v in values) or sum(values) <= 0:
            raise ValueError(f"positive mix must be non-negative with a positive sum; got {values}")

    def weight(self, kind: str) -> float:
        return getattr(self, kind)


class ExampleBuilder:
    """Draws the (anchor, positive, negative) triplets of one epoch from training papers."""

    def __init__(self, papers: Sequence[TrainingPaper], mix: PositiveMix | None = None, max_span_sentences: int = 3,
                 anchors_per_paper: int | None = None, seed: int = 42):
        if len(papers) < 2:
            raise TrainingDataError(f"need at least 2 training papers to draw negatives; got {len(papers)}")
        if max_span_sentences < 1:
            raise ValueError("max_span_sentences must be >= 1")
        self.papers = list(papers)
        self.mix = mix or PositiveMix()
        self.max_span = max_span_sentences
        self.anchors_per_paper = anchors_per_paper
        self.seed = seed
        self._kinds = [[k for k in p.positive_kinds() if self.mix.weight(k) > 0] for p in self.papers]
        # papers that can give a negative of each kind
        self._negative_pool = {
            "summary": list(range(len(self.papers))),
            "title": [i for i, p in enumerate(self.papers) if p.title],
            "sentence": [i for i, p in enumerate(self.papers) if len(p.sentences) >= 2],
            "abstract": list(range(len(self.papers))),
        }

    def anchors_per_epoch(self) -> int:
        k = self.anchors_per_paper
        return sum(len(p.summaries) if k is None else min(k, len(p.summaries)) for p in self.papers)

    def _span(self, rng: random.Random, sentences: list[str], longest: int) -> str:
        length = rng.randint(1, max(1, min(self.max_span, longest)))
        start = rng.randint(0, len(sentences) - length)
        return " ".join(sentences[start:start + length])

    def _negative_index(self, rng: random.Random, kind: str, i: int) -> int | None:
        pool = self._negative_pool[kind]
        if len(pool) < 2 and (not pool or pool[0] == i):
            return None
        while True:
            j = pool[rng.randrange(len(pool))]
            if j != i:
                return j

    def _text(self, rng: random.Random, kind: str, j: int, exclude: str | None = None) -> str:
        p = self.papers[j]
        if kind == "summary":
            options = [s for s in p.summaries if s != exclude] or p.summaries
            return options[rng.randrange(len(options))]
        if kind == "title":
            return p.title or ""
        if kind == "sentence":
            return self._span(rng, p.sentences, len(p.sentences) - 1)
        return p.abstract

    def epoch(self, epoch: int) -> list[Triplet]:
        """All triplets of one epoch: every summary (or ``anchors_per_paper`` of them) is an anchor once."""
        rng = random.Random(f"examples:{self.seed}:{epoch}")
        out: list[Triplet] = []
        for i, paper in enumerate(self.papers):
            anchors = list(paper.summaries)
            if self.anchors_per_paper is not None and len(anchors) > self.anchors_per_paper:
                anchors = rng.sample(anchors, self.anchors_per_paper)
            for anchor in anchors:
                kinds = self._kinds[i]
                if kinds:
                    kind = rng.choices(kinds, weights=[self.mix.weight(k) for k in kinds])[0]
                else:
                    kind = "abstract"
                positive = self._text(rng, kind, i, exclude=anchor)
                j = self._negative_index(rng, kind, i)
                neg_kind = kind
                if j is None:  # no other paper has this kind: fall back to a summary of another paper
                    neg_kind = "summary"
                    j = self._negative_index(rng, "summary", i)
                    assert j is not None
                negative = self._text(rng, neg_kind, j)
                out.append(Triplet(anchor, positive, negative, kind, i, j))
        return out


def mix_report(triplets: Sequence[Triplet], mix: PositiveMix) -> dict[str, Any]:
    """Realised share of each positive kind against the requested one."""
    counts = Counter(t.kind for t in triplets)
    total = max(1, len(triplets))
    requested_total = mix.summary + mix.title + mix.sentence
    return {
        "triplets": len(triplets),
        "counts": {k: counts.get(k, 0) for k in KINDS},
        "realised": {k: round(counts.get(k, 0) / total, 4) for k in KINDS},
        "requested": {k: round(mix.weight(k) / requested_total, 4) for k in KINDS[:3]},
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
