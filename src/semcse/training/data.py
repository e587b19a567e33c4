"""Training data: summaries read from stores and JSONL files, matched with the corpus, split by paper,
and prepared once as Arrow files that every start, resume and rank reuses.

The preparation streams: summaries are spread over partition files by a hash of the paper id, and
each partition (its papers and their summaries, a few tens of thousands of papers) is matched, split
into sentences and appended to the prepared files before the next is read. Peak memory therefore
follows the size of a partition and of the corpus table, not the number of summaries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections import namedtuple
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from semcse.config import TrainConfig
from semcse.corpus import ID_FIELDS, iter_jsonl, load_corpus
from semcse.summaries.store import SummaryStore
from semcse.training.checkpoints import PREPARED
from semcse.training.examples import ExampleBuilder, PositiveMix
from semcse.training.papers import (
    DataReport, TrainingDataError, TrainingPaper, check_summaries, match_papers, split_by_paper, unsummarised_papers,
)
from semcse.training.prepared import (
    COMPLETE, PreparedPapers, PreparedWriter, fingerprint, publish, source_signature, wait_for_cache,
)

log = logging.getLogger(__name__)

SUMMARY_TEXT_FIELDS = ("summaries", "target", "summary", "tldr", "texts")
DATA_FIELDS = ("corpus", "summaries", "summaries_id_field", "summaries_field", "validation_papers",
               "max_validation_papers", "validation_fill", "seed", "sentence_splitter", "unsummarised_papers")
PAPERS_PER_PARTITION = 20_000


# ---- summaries ----------------------------------------------------------------------------------

def _iter_summary_jsonl(path: Path, id_field: str | None, text_field: str | None) -> Iterator[tuple[str, list[str]]]:
    skipped = 0
    for row, obj in iter_jsonl(path):
        if isinstance(obj, Exception):
            log.warning("%s:%d: %s -> skipped", path, row, obj)
            skipped += 1
            continue
        if id_field is None:
            id_field = next((f for f in ID_FIELDS if f in obj), None)
            if id_field is None:
                raise TrainingDataError(f"{path}:{row}: no id field among {sorted(obj)}; name it with --summaries-id-field")
        if text_field is None:
            text_field = next((f for f in SUMMARY_TEXT_FIELDS if f in obj), None)
            if text_field is None:
                raise TrainingDataError(f"{path}:{row}: no summaries field among {sorted(obj)}; name it with --summaries-field")
        pid, texts = obj.get(id_field), obj.get(text_field)
        if pid is None or texts is None:
            log.warning("%s:%d: missing %r or %r -> skipped", path, row, id_field, text_field)
            skipped += 1
            continue
        texts = [texts] if isinstance(texts, str) else list(texts)
        yield str(pid), [t.strip() for t in texts if isinstance(t, str) and t.strip()]
    if skipped:
        log.warning("%s: %d row(s) skipped", path, skipped)


def iter_summaries(sources: tuple[str, ...] | list[str], id_field: str | None = None,
                   text_field: str | None = None) -> Iterator[tuple[str, tuple, str]]:
    """``(paper id, order, text)`` of every accepted summary in store run directories and/or JSONL files,
    streamed; sorting a paper's texts by ``order`` gives source order, then (prompt, sample) in a store
    and file order in JSONL."""
    if not sources:
        raise TrainingDataError("no summaries given (--summaries: a summary store run directory or a JSONL file)")
    for si, src in enumerate(sources):
        path = Path(src).expanduser()
        if path.is_dir():
            store = SummaryStore(path)
            if not store.segments():
                raise TrainingDataError(f"{path}: not a summary store (no records/*.jsonl); run `semcse summarize` first")
            n = 0
            for r in store.iter_all():
                if r.status == "ok":
                    n += 1
                    yield r.paper_id, (si, r.prompt_id, r.sample), r.text
            if not n:
                raise TrainingDataError(f"{path}: the summary store holds no accepted summaries")
        elif path.is_file():
            position = 0
            for pid, texts in _iter_summary_jsonl(path, id_field, text_field):
                for text in texts:
                    yield pid, (si, "", position), text
                    position += 1
        else:
            raise TrainingDataError(f"summaries not found: {path}")


def load_summaries(sources: tuple[str, ...] | list[str], id_field: str | None = None,
                   text_field: str | None = None) -> dict[str, list[str]]:
    """Accepted summaries per paper id from summary store run directories and/or JSONL files (in memory)."""
    grouped: dict[str, list[tuple[tuple, str]]] = {}
    for pid, order, text in iter_summaries(sources, id_field, text_field):
        grouped.setdefault(pid, []).append((order, text))
    return {pid: [t for _, t in sorted(items)] for pid, items in grouped.items()}


# ---- preparation --------------------------------------------------------------------------------

@dataclass
class TrainingData:
    """Everything drawn from the inputs: papers split by paper, the example builder and reports."""

    train_papers: PreparedPapers  # indexable: train_papers[i] is a TrainingPaper
    validation_papers: list[TrainingPaper]
    builder: ExampleBuilder
    report: DataReport
    corpus_report: dict[str, Any]
    directory: Path | None = None  # the prepared-data cache (None: prepared in memory)


def _partition(pid: str, partitions: int) -> int:
    return int.from_bytes(hashlib.blake2b(pid.encode("utf-8"), digest_size=8).digest(), "little") % partitions


_Id = namedtuple("_Id", "id")


def build_prepared(cfg: TrainConfig, directory: Path, partitions: int | None = None) -> dict[str, Any]:
    """Prepare the training data of ``cfg`` into ``directory`` (``train/``, ``validation/``), partition by
    partition; returns the data report and the corpus report."""
    corpus = load_corpus(cfg.corpus)
    papers = corpus.papers
    cfg.check_corpus_size(len(papers))  # before reading the summaries
    k = partitions or max(1, math.ceil(len(papers) / PAPERS_PER_PARTITION))
    spill = directory / "partitions"
    spill.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    files = [(spill / f"{i}.jsonl").open("w", encoding="utf-8") for i in range(k)]
    try:
        for pid, order, text in iter_summaries(cfg.summaries, cfg.summaries_id_field, cfg.summaries_field):
            counts[pid] = counts.get(pid, 0) + 1
            files[_partition(pid, k)].write(json.dumps([pid, order, text], ensure_ascii=False) + "\n")
    finally:
        for fh in files:
            fh.close()
    report = check_summaries(papers, counts, ", ".join(cfg.summaries))
    # the split needs ids only: papers (in corpus order) that have at least one summary, or every paper
    # when papers without summaries train too
    every_paper = cfg.unsummarised_papers == "train"
    split_ids = [_Id(p.id) for p in papers if every_paper or counts.get(p.id)]
    _, validation_ids = split_by_paper(split_ids, cfg.validation_papers, cfg.seed, cfg.max_validation_papers)
    validation_ids = {v.id for v in validation_ids}
    validation: list[TrainingPaper] = []
    papers_of: list[list] = [[] for _ in range(k)]  # corpus order within each partition
    for p in papers:
        papers_of[_partition(p.id, k)].append(p)
    with PreparedWriter(directory / "train") as writer:
        for i in range(k):
            grouped: dict[str, list] = {}
            with (spill / f"{i}.jsonl").open(encoding="utf-8") as fh:
                for line in fh:
                    pid, order, text = json.loads(line)
                    grouped.setdefault(pid, []).append((order, text))
            summaries = {pid: [t for _, t in sorted(items)] for pid, items in grouped.items()}
            del grouped
            prepared = match_papers(papers_of[i], summaries, report, cfg.sentence_splitter, keep_unsummarised=every_paper)
            training = [p for p in prepared if p.id not in validation_ids]
            report.train_unsummarised += sum(1 for p in training if not p.summaries)
            writer.write(PreparedPapers.from_papers(training))
            validation += [p for p in prepared if p.id in validation_ids]
            (spill / f"{i}.jsonl").unlink()
    shutil.rmtree(spill, ignore_errors=True)
    position = {p.id: n for n, p in enumerate(papers)}
    validation.sort(key=lambda p: position[p.id])  # corpus order, whatever the partitions
    report.train_papers, report.validation_papers = writer.papers, len(validation)
    if cfg.validation_fill and not every_paper:  # with every paper training, the split already holds them all
        extra = unsummarised_papers(papers, counts, cfg.max_validation_papers - len(validation),
                                    cfg.seed, splitter=cfg.sentence_splitter)
        report.validation_unsummarised = len(extra)
        validation += extra
    PreparedPapers.from_papers(validation).save(directory / "validation")
    return {"report": report.to_dict(), "corpus_report": corpus.report.to_dict(), "partitions": k}


def _builder(cfg: TrainConfig, papers: PreparedPapers) -> ExampleBuilder:
    return ExampleBuilder(papers, PositiveMix(cfg.p_summary, cfg.p_title, cfg.p_sentence, cfg.p_abstract),
                          max_span_sentences=cfg.max_span_sentences, anchors_per_paper=cfg.anchors_per_paper, seed=cfg.seed,
                          title_anchors=cfg.title_anchors, span_anchors=cfg.span_anchors)


def _load(directory: Path, meta: dict[str, Any], cfg: TrainConfig, memory_map: bool) -> TrainingData:
    train = PreparedPapers.load(directory / "train", memory_map=memory_map)
    validation = PreparedPapers.load(directory / "validation", memory_map=memory_map).to_papers()
    return TrainingData(train, validation, _builder(cfg, train), DataReport(**meta["report"]), meta["corpus_report"],
                        directory if memory_map else None)


def prepare_data(cfg: TrainConfig, partitions: int | None = None) -> TrainingData:
    """The training data, prepared once per inputs fingerprint under ``<out>/prepared/`` (Arrow files,
    memory-mapped): a resume, a rerun with other training options and every distributed rank load it
    instead of reading and splitting the corpus again. The local rank 0 builds it; other ranks wait.
    Without ``cfg.out`` (library use) it is prepared in a temporary directory and held in memory."""
    if not cfg.out:
        with tempfile.TemporaryDirectory(prefix="semcse-prepare-") as tmp:
            meta = build_prepared(cfg, Path(tmp), partitions)
            return _load(Path(tmp), meta, cfg, memory_map=False)
    parts = {k: v for k, v in cfg.to_dict().items() if k in DATA_FIELDS}
    parts["inputs"] = [source_signature(cfg.corpus.source)] + [source_signature(s) for s in cfg.summaries]
    root = Path(cfg.out) / PREPARED
    cached = root / fingerprint(parts)
    if not (cached / COMPLETE).exists():
        if int(os.environ.get("LOCAL_RANK", "0")) != 0:
            log.info("waiting for rank 0 to prepare the training data in %s", cached)
            wait_for_cache(cached)
        else:
            started = time.perf_counter()
            tmp = root / f".{cached.name}.{os.getpid()}.tmp"
            shutil.rmtree(tmp, ignore_errors=True)
            meta = build_prepared(cfg, tmp, partitions)
            publish(tmp, cached, {**meta, "inputs": parts, "seconds": round(time.perf_counter() - started, 1)})
            log.info("prepared the training data in %.1f s (%d partition(s)) -> %s",
                     time.perf_counter() - started, meta["partitions"], cached)
    else:
        log.info("using the prepared training data in %s", cached)
    return _load(cached, json.loads((cached / COMPLETE).read_text()), cfg, memory_map=True)
