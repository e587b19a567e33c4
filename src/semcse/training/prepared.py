"""Training papers as columns: ids, titles and abstracts, with flat arrays of summaries and sentences.

At paper scale (350,000 papers x 15 summaries) Python objects per paper and per text cost
gigabytes and minutes; :class:`PreparedPapers` keeps the texts in Arrow arrays (memory-mapped when
loaded from disk) and the per-paper counts in NumPy, so the triplet sampler can draw whole epochs
with vectorised index arithmetic and fetch texts only for the batch being trained.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

log = logging.getLogger(__name__)

PAPERS_FILE, SUMMARIES_FILE, SENTENCES_FILE = "papers.arrow", "summaries.arrow", "sentences.arrow"


PAPERS_SCHEMA = pa.schema([("id", pa.string()), ("title", pa.string()), ("abstract", pa.large_string()),
                           ("n_summaries", pa.int32()), ("n_sentences", pa.int32())])
TEXT_SCHEMA = pa.schema([("text", pa.large_string()), ("chars", pa.int32())])
# stored character counts: loading never reads the texts' pages (they are read per batch, when used)
LENGTH_COLUMNS = pa.schema([("title_chars", pa.int32()), ("abstract_chars", pa.int32())])


def _numpy(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False)


def _lengths(texts) -> np.ndarray:
    return _numpy(pc.utf8_length(texts)).astype(np.int64)


class PreparedPapers:
    """Training papers: paper ``i`` has summaries ``summary_offsets[i]:summary_offsets[i+1]`` of the flat
    ``summaries`` array and sentences ``sentence_offsets[i]:...`` of ``sentences``; ``titles[i]`` may be null."""

    def __init__(self, papers: pa.Table, summaries: pa.Array | pa.ChunkedArray, sentences: pa.Array | pa.ChunkedArray,
                 summary_chars=None, sentence_chars=None):
        # columns stay as stored (one chunk per partition when memory-mapped): take() and slicing work on both
        self.table = papers
        self.ids, self.titles, self.abstracts = papers.column("id"), papers.column("title"), papers.column("abstract")
        self.summaries, self.sentences = summaries, sentences
        self.summary_counts = _numpy(papers.column("n_summaries")).astype(np.int64)
        self.sentence_counts = _numpy(papers.column("n_sentences")).astype(np.int64)
        self.summary_offsets = np.concatenate([[0], np.cumsum(self.summary_counts)])
        self.sentence_offsets = np.concatenate([[0], np.cumsum(self.sentence_counts)])
        if self.summary_offsets[-1] != len(summaries) or self.sentence_offsets[-1] != len(sentences):
            raise ValueError("prepared papers: counts do not match the summary / sentence arrays")
        self.has_title = _numpy(pc.is_valid(self.titles)).astype(bool)
        if "title_chars" in papers.column_names:
            self.title_lengths = _numpy(papers.column("title_chars")).astype(np.int64)
            self.abstract_lengths = _numpy(papers.column("abstract_chars")).astype(np.int64)
        else:
            self.title_lengths = np.where(self.has_title, _lengths(self.titles.fill_null("")), 0)
            self.abstract_lengths = _lengths(self.abstracts)
        self.summary_lengths = _lengths(summaries) if summary_chars is None else _numpy(summary_chars).astype(np.int64)
        sentence_lengths = _lengths(sentences) if sentence_chars is None else _numpy(sentence_chars).astype(np.int64)
        # characters of sentences [0, k): a span's length is a difference (+ the joining spaces)
        self.sentence_cumlen = np.concatenate([[0], np.cumsum(sentence_lengths)])

    def __len__(self) -> int:
        return len(self.ids)

    @staticmethod
    def take(column: pa.Array | pa.ChunkedArray, indices: np.ndarray) -> list:
        """``column[indices]`` as Python values. A chunked column is read chunk by chunk: Arrow's own take
        on a chunked string column concatenates every chunk first (a full copy per call)."""
        indices = np.asarray(indices, dtype=np.int64)
        if isinstance(column, pa.Array):
            return column.take(pa.array(indices)).to_pylist()
        starts = np.concatenate([[0], np.cumsum([len(c) for c in column.chunks])])
        which = np.searchsorted(starts, indices, side="right") - 1
        out: list = [None] * len(indices)
        for chunk in np.unique(which):
            rows = np.flatnonzero(which == chunk)
            values = column.chunk(int(chunk)).take(pa.array(indices[rows] - starts[chunk])).to_pylist()
            for row, value in zip(rows, values):
                out[row] = value
        return out

    @classmethod
    def from_papers(cls, papers: Sequence) -> "PreparedPapers":
        """From :class:`~semcse.training.papers.TrainingPaper` objects."""
        table = pa.table({
            "id": pa.array([p.id for p in papers], pa.string()),
            "title": pa.array([p.title or None for p in papers], pa.string()),
            "abstract": pa.array([p.abstract for p in papers], pa.large_string()),
            "n_summaries": pa.array([len(p.summaries) for p in papers], pa.int32()),
            "n_sentences": pa.array([len(p.sentences) for p in papers], pa.int32()),
        }, schema=PAPERS_SCHEMA)
        summaries = pa.array([s for p in papers for s in p.summaries], pa.large_string())
        sentences = pa.array([s for p in papers for s in p.sentences], pa.large_string())
        return cls(table, summaries, sentences)

    def paper(self, i: int):
        """Paper ``i`` as a :class:`~semcse.training.papers.TrainingPaper`."""
        from semcse.training.papers import TrainingPaper

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
        with PreparedWriter(directory) as writer:
            writer.write(self)

    @classmethod
    def load(cls, directory: Path, memory_map: bool = True) -> "PreparedPapers":
        """Read a saved set; memory-mapped (pages loaded on access) unless ``memory_map`` is false."""
        def read(name: str) -> pa.Table:
            source = pa.memory_map(str(directory / name), "r") if memory_map else pa.OSFile(str(directory / name), "rb")
            return pa.ipc.open_file(source).read_all()

        summaries, sentences = read(SUMMARIES_FILE), read(SENTENCES_FILE)
        return cls(read(PAPERS_FILE), summaries.column("text"), sentences.column("text"),
                   summary_chars=summaries.column("chars"), sentence_chars=sentences.column("chars"))


class PreparedWriter:
    """Appends :class:`PreparedPapers` (e.g. one per partition of a large corpus) to the three Arrow files
    of ``directory``; use as a context manager. The result loads as one set with :meth:`PreparedPapers.load`."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.papers = 0

    def __enter__(self) -> "PreparedWriter":
        self.directory.mkdir(parents=True, exist_ok=True)
        self._sinks, self._writers = [], []
        papers_schema = pa.schema(list(PAPERS_SCHEMA) + list(LENGTH_COLUMNS))
        for name, schema in ((PAPERS_FILE, papers_schema), (SUMMARIES_FILE, TEXT_SCHEMA), (SENTENCES_FILE, TEXT_SCHEMA)):
            sink = pa.OSFile(str(self.directory / name), "wb")
            self._sinks.append(sink)
            self._writers.append(pa.ipc.new_file(sink, schema))
        return self

    def write(self, part: PreparedPapers) -> None:
        papers = part.table.select(PAPERS_SCHEMA.names)
        papers = papers.append_column("title_chars", pa.array(part.title_lengths, pa.int32()))
        papers = papers.append_column("abstract_chars", pa.array(part.abstract_lengths, pa.int32()))
        tables = (papers,
                  pa.table({"text": part.summaries, "chars": pa.array(part.summary_lengths, pa.int32())}, schema=TEXT_SCHEMA),
                  pa.table({"text": part.sentences, "chars": pa.array(np.diff(part.sentence_cumlen), pa.int32())},
                           schema=TEXT_SCHEMA))
        for writer, table in zip(self._writers, tables):
            for batch in table.to_batches():
                writer.write_batch(batch)
        self.papers += len(part)

    def __exit__(self, *exc) -> None:
        for writer, sink in zip(self._writers, self._sinks):
            writer.close()
            sink.close()


# ---- the prepare cache: built once per inputs fingerprint, reused by resumes, reruns and every rank ----

CACHE_VERSION = 2  # bump when the files change
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


def cached_array(directory: Path, name: str, key: dict, compute, wait: bool = False,
                 timeout_s: float = 7200.0) -> tuple[np.ndarray, dict]:
    """``compute()``'s array and report, kept in ``directory`` as ``<name>.npy`` and ``<name>.json`` under
    ``key`` (the inputs and options it depends on): a rerun, a resume or another rank with the same
    key reads them back instead. With ``wait``, this process never computes: it waits for the process
    that does (the local rank 0) to publish its copy."""
    import json
    import time

    path, meta_path = directory / f"{name}.npy", directory / f"{name}.json"
    deadline = time.monotonic() + timeout_s
    while True:
        if path.exists() and meta_path.exists():
            meta = json.loads(meta_path.read_text())
            if meta.get("key") == key:
                log.info("using the %s computed before (%s)", name.replace("_", " "), path)
                return np.load(path, allow_pickle=False), meta["report"]
        if not wait:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {path}")
        time.sleep(1.0)
    array, report = compute()
    report = report.to_dict() if hasattr(report, "to_dict") else report
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, array, allow_pickle=False)
    tmp.replace(path)
    tmp_meta = meta_path.with_suffix(".tmp.json")
    tmp_meta.write_text(json.dumps({"key": key, "report": report}, indent=2))
    tmp_meta.replace(meta_path)  # written last: a waiting rank sees the array complete
    return array, report
