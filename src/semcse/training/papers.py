"""Training papers: corpus papers matched with their summaries, abstracts split into sentences, and
the train/validation split by paper (the records the example builder draws from)."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from typing import Any, Container, Iterable, Mapping, Sequence

from semcse.corpus import Corpus, Paper
from semcse.sentences import split_many

log = logging.getLogger(__name__)


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
    train_unsummarised: int = 0  # training papers without summaries (they train through title and span anchors)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def lines(self) -> list[str]:
        return [
            f"{self.papers_used} papers with summaries used ({self.summaries} summaries; corpus {self.corpus_papers} papers, "
            f"{self.corpus_without_summaries} without summaries; {self.summaries_without_paper} summarised ids not in the corpus)",
            f"fallbacks: {self.one_summary} papers with one summary, {self.no_title} without title, "
            f"{self.one_sentence} with a one-sentence abstract, {self.no_positive_kind} with none of the three kinds "
            "(positive = whole abstract)",
            f"split by paper: {self.train_papers} train"
            + (f" ({self.train_unsummarised} of them without summaries: title and span anchors only)"
               if self.train_unsummarised else "")
            + f", {self.validation_papers} validation"
            + (f" (+ {self.validation_unsummarised} corpus papers without summaries in the title-abstract and "
               "abstract-halves validation pools)" if self.validation_unsummarised else ""),
        ]


def _dedupe(texts: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for t in texts:
        t = str(t)
        normal = " ".join(t.split())
        t = t if normal == t else normal  # keep the original object: no second copy of every text
        if t and t not in seen:
            seen.add(t)
            out.append(t)
    return out


def _with_sentences(papers: Sequence[Paper], splitter: str, workers: int | None = None) -> list[list[str]]:
    """Each paper's abstract sentences: those that came with the data, else split (in parallel when many)."""
    todo = [i for i, p in enumerate(papers) if not p.sentences]
    split = iter(split_many([papers[i].abstract for i in todo], splitter, workers))
    out = []
    for p in papers:
        given = p.sentences or next(split)
        out.append([s for s in given if s.strip()] or [p.abstract])
    return out


def _training_paper(paper: Paper, summaries: list[str], sentences: list[str]) -> TrainingPaper:
    """A corpus paper with its (deduplicated) summaries, a cleaned title and its abstract's sentences."""
    return TrainingPaper(id=paper.id, title=(paper.title or "").strip() or None, abstract=paper.abstract,
                         sentences=sentences, summaries=summaries)


def check_summaries(papers: Sequence[Paper], summary_counts: Mapping[str, int],
                    summaries_source: str = "summaries") -> DataReport:
    """The report of matching corpus papers with summary counts per paper id; raises
    :class:`TrainingDataError` for an empty corpus, no summaries at all, or summaries whose paper ids
    match none of the corpus (a store made from another corpus)."""
    if not papers:
        raise TrainingDataError("the corpus has no papers")
    if not summary_counts or sum(summary_counts.values()) == 0:
        raise TrainingDataError(f"{summaries_source}: no accepted summaries for any paper; run `semcse summarize` "
                                "or import summaries first")
    corpus_ids = {p.id for p in papers}
    unmatched = [pid for pid in summary_counts if pid not in corpus_ids]
    report = DataReport(corpus_papers=len(papers), summary_papers=len(summary_counts), summaries=0,
                        summaries_without_paper=len(unmatched), unmatched_examples=sorted(unmatched)[:5])
    if len(unmatched) == len(summary_counts):
        raise TrainingDataError(
            f"{summaries_source}: none of the {len(summary_counts)} summarised paper ids occurs in the corpus "
            f"(summary ids e.g. {sorted(summary_counts)[:3]}, corpus ids e.g. {sorted(corpus_ids)[:3]}); "
            "are the summaries from another corpus, or is the corpus id field different (--id-field)?")
    if unmatched:
        log.warning("%s: %d of %d summarised paper ids are not in the corpus and are ignored (e.g. %s)",
                    summaries_source, len(unmatched), len(summary_counts), ", ".join(report.unmatched_examples))
    return report


def match_papers(papers: Sequence[Paper], summaries_by_paper: Mapping[str, Sequence[str]], report: DataReport,
                 splitter: str = "rules", workers: int | None = None,
                 keep_unsummarised: bool = False) -> list[TrainingPaper]:
    """The papers that have summaries (every paper with ``keep_unsummarised``: those without have an
    empty summary list), as :class:`TrainingPaper` (summaries deduplicated, abstracts split into
    sentences); adds their counts and fallbacks to ``report``."""
    out: list[TrainingPaper] = []
    kept = []
    for p in papers:
        texts = _dedupe(summaries_by_paper.get(p.id, ()))
        if not texts:
            report.corpus_without_summaries += 1
            if not keep_unsummarised:
                continue
        kept.append((p, texts))
    sentences = _with_sentences([p for p, _ in kept], splitter, workers)
    for (p, texts), sents in zip(kept, sentences):
        tp = _training_paper(p, texts, sents)
        out.append(tp)
        if not texts:
            continue  # counted above; the fallbacks below describe summarised papers
        report.summaries += len(texts)
        report.one_summary += len(texts) < 2
        report.no_title += tp.title is None
        report.one_sentence += len(tp.sentences) < 2
        report.no_positive_kind += not tp.positive_kinds()
    report.papers_used += sum(1 for tp in out if tp.summaries)
    return out


def prepare_papers(corpus: Corpus | Sequence[Paper], summaries_by_paper: Mapping[str, Sequence[str]],
                   summaries_source: str = "summaries", splitter: str = "rules",
                   workers: int | None = None) -> tuple[list[TrainingPaper], DataReport]:
    """Match corpus papers with their summaries; papers without summaries are left out. Abstracts are
    split into sentences with ``splitter`` (:mod:`semcse.sentences`), in ``workers`` processes when many.

    Raises :class:`TrainingDataError` for an empty corpus, no summaries at all, or summaries whose
    paper ids match none of the corpus (a store made from another corpus).
    """
    papers = list(corpus.papers if isinstance(corpus, Corpus) else corpus)
    report = check_summaries(papers, {pid: len(v) for pid, v in summaries_by_paper.items()}, summaries_source)
    return match_papers(papers, summaries_by_paper, report, splitter, workers), report


def unsummarised_papers(corpus: Corpus | Sequence[Paper], summarised: Container[str],
                        limit: int, seed: int, splitter: str = "rules") -> list[TrainingPaper]:
    """Up to ``limit`` corpus papers whose id is not in ``summarised`` (ids, or a mapping keyed by them),
    drawn with a fixed seed, for validation.

    They are never trained on (training needs summaries as anchors), so they can enlarge the
    title-abstract and abstract-halves validation pools at no risk of leakage.
    """
    papers = list(corpus.papers if isinstance(corpus, Corpus) else corpus)
    candidates = sorted((p for p in papers if p.id not in summarised), key=lambda p: p.id)
    random.Random(f"unsummarised:{seed}").shuffle(candidates)
    chosen = candidates[:max(0, limit)]
    return [_training_paper(p, [], sents) for p, sents in zip(chosen, _with_sentences(chosen, splitter))]


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
