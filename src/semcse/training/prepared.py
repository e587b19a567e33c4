"""Training papers as columns: ids, titles and abstracts, with flat arrays of summaries and sentences.

At paper scale (350,000 papers x 15 summaries) Python objects per paper and per text cost
gigabytes and minutes; :class:`PreparedPapers` keeps the texts in Arrow arrays (memory-mapped when
loaded from disk) and the per-paper counts in NumPy, so the triplet sampler can draw whole epochs
with vectorised index arithmetic and fetch texts only for the batch being trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

PAPERS_FILE, SUMMARIES_FILE, SENTENCES_FILE = "papers.arrow", "summaries.arrow", "sentences.arrow"


def _single_chunk(column: pa.ChunkedArray) -> pa.Array:
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def _lengths(texts: pa.Array) -> np.ndarray:
    return pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.int64) if len(texts) else np.zeros(0, np.int64)


class PreparedPapers:
    """Training papers: paper ``i`` has summaries ``summary_offsets[i]:summary_offsets[i+1]`` of the flat
    ``summaries`` array and sentences ``sentence_offsets[i]:...`` of ``sentences``; ``titles[i]`` may be null."""

    def __init__(self, papers: pa.Table, summaries: pa.Array, sentences: pa.Array):
        self.table = papers
        self.ids = _single_chunk(papers.column("id"))
        self.titles = _single_chunk(papers.column("title"))
        self.abstracts = _single_chunk(papers.column("abstract"))
        self.summaries, self.sentences = summaries, sentences
        self.summary_counts = papers.column("n_summaries").to_numpy().astype(np.int64)
        self.sentence_counts = papers.column("n_sentences").to_numpy().astype(np.int64)
        self.summary_offsets = np.concatenate([[0], np.cumsum(self.summary_counts)])
        self.sentence_offsets = np.concatenate([[0], np.cumsum(self.sentence_counts)])
        if self.summary_offsets[-1] != len(summaries) or self.sentence_offsets[-1] != len(sentences):
            raise ValueError("prepared papers: counts do not match the summary / sentence arrays")
        self.has_title = self.titles.is_valid().to_numpy(zero_copy_only=False)
        self.title_lengths = np.where(self.has_title, _lengths(self.titles.fill_null("")), 0)
        self.abstract_lengths = _lengths(self.abstracts)
        self.summary_lengths = _lengths(summaries)
        # characters of sentences [0, k): a span's length is a difference (+ the joining spaces)
        self.sentence_cumlen = np.concatenate([[0], np.cumsum(_lengths(sentences))])

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def from_papers(cls, papers: Sequence) -> "PreparedPapers":
        """From :class:`~semcse.training.examples.TrainingPaper` objects."""
        table = pa.table({
            "id": pa.array([p.id for p in papers], pa.string()),
            "title": pa.array([p.title or None for p in papers], pa.string()),
            "abstract": pa.array([p.abstract for p in papers], pa.large_string()),
            "n_summaries": pa.array([len(p.summaries) for p in papers], pa.int32()),
            "n_sentences": pa.array([len(p.sentences) for p in papers], pa.int32()),
        })
        summaries = pa.array([s for p in papers for s in p.summaries], pa.large_string())
        sentences = pa.array([s for p in papers for s in p.sentences], pa.large_string())
        return cls(table, summaries, sentences)

    def paper(self, i: int):
        """Paper ``i`` as a :class:`~semcse.training.examples.TrainingPaper`."""
        from semcse.training.examples import TrainingPaper

        s0, s1 = self.summary_offsets[i], self.summary_offsets[i + 1]
        t0, t1 = self.sentence_offsets[i], self.sentence_offsets[i + 1]
        return TrainingPaper(id=self.ids[i].as_py(), title=self.titles[i].as_py(), abstract=self.abstracts[i].as_py(),
                             sentences=self.sentences[t0:t1].to_pylist(), summaries=self.summaries[s0:s1].to_pylist())

    def __getitem__(self, i: int):
        return self.paper(int(i))

    def __iter__(self):
        return (self.paper(i) for i in range(len(self)))

    def to_papers(self) -> list:
        return [self.paper(i) for i in range(len(self))]

    # ---- disk: Arrow IPC files, memory-mapped on load --------------------------------------------

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for name, table in ((PAPERS_FILE, self.table), (SUMMARIES_FILE, pa.table({"text": self.summaries})),
                            (SENTENCES_FILE, pa.table({"text": self.sentences}))):
            with pa.OSFile(str(directory / name), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table.combine_chunks(), max_chunksize=max(1, table.num_rows))

    @classmethod
    def load(cls, directory: Path) -> "PreparedPapers":
        def read(name: str) -> pa.Table:
            return pa.ipc.open_file(pa.memory_map(str(directory / name), "r")).read_all()

        return cls(read(PAPERS_FILE), _single_chunk(read(SUMMARIES_FILE).column("text")),
                   _single_chunk(read(SENTENCES_FILE).column("text")))


# ---- the prepare cache: built once per inputs fingerprint, reused by resumes, reruns and every rank ----

CACHE_VERSION = 1
COMPLETE = "complete.json"


def source_signature(source: str) -> list:
    """What identifies an input's content cheaply: (path, size, mtime) of its files, or a hub id as given."""
    path = Path(source).expanduser()
    if not path.exists():
        return [source]
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and ".lock" not in p.name)
    return [str(path.resolve())] + [[str(p.relative_to(path)) if p != path else "", p.stat().st_size, p.stat().st_mtime_ns]
                                    for p in files[:10000]]


def fingerprint(parts: dict) -> str:
    import hashlib
    import json

    blob = json.dumps({"version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def wait_for_cache(directory: Path, timeout_s: float = 7200.0, poll_s: float = 1.0) -> None:
    """Block until another process (rank 0) has written ``directory``'s completion marker."""
    import time

    deadline = time.monotonic() + timeout_s
    while not (directory / COMPLETE).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for the prepared data in {directory}")
        time.sleep(poll_s)


def publish(tmp: Path, final: Path, meta: dict) -> None:
    """Mark ``tmp`` complete and move it into place atomically (a concurrent builder's copy wins ties)."""
    import json
    import shutil

    (tmp / COMPLETE).write_text(json.dumps(meta, indent=2, default=str))
    try:
        tmp.rename(final)
    except OSError:  # another process published the same fingerprint first
        shutil.rmtree(tmp, ignore_errors=True)
