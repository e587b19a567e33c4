"""Crash-safe, resumable store of generated texts, keyed by (paper id, prompt id, sample index).

Layout of a run directory::

    <run>/records/<segment>.jsonl   append-only records, one JSON object per line
    <run>/records/<segment>.lock    held (flock) by the one process writing that segment

Every writer appends whole lines with one ``os.write`` per batch and ``fsync``s them. On opening a
segment for writing, a torn last line (no newline or invalid JSON, e.g. after ``kill -9``) is cut
off, so it is never propagated; readers skip such a line with a warning. Each shard of a corpus
writes its own segment, so the segments of several machines can simply be copied into one
``records/`` folder (or combined with :meth:`SummaryStore.merge`); reading deduplicates by key.
Every generation has one of three outcomes: ``ok`` (accepted), ``rejected`` by the quality filter
(stored with its ``reason``, never generated again) and ``failed`` (request error, HTTP error, empty
or malformed reply, context overflow, cut by the token limit: stored with its cause, never counted
as a summary, and retried by the next run). When a key has several records, a later ``ok`` or
``rejected`` record supersedes a ``failed`` one; otherwise the first record wins.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

log = logging.getLogger(__name__)

Key = tuple[str, str, int]


class StoreError(RuntimeError):
    """A store that cannot be used (locked by another process, unreadable import file, ...)."""


@dataclass
class SummaryRecord:
    """One generated (or imported) text for one (paper, prompt, sample)."""

    paper_id: str
    prompt_id: str
    sample: int
    text: str
    status: str = "ok"  # ok | rejected | failed
    reason: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    tokens: int | None = None
    time: float = field(default_factory=time.time)
    source: str = "llm"  # llm | import | batch

    @property
    def key(self) -> Key:
        return (self.paper_id, self.prompt_id, self.sample)

    def to_json(self) -> str:
        d = {k: v for k, v in self.__dict__.items() if v is not None and v != {}}
        return json.dumps(d, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SummaryRecord":
        return cls(
            paper_id=str(d["paper_id"]), prompt_id=str(d["prompt_id"]), sample=int(d["sample"]), text=d.get("text", ""),
            status=d.get("status", "ok"), reason=d.get("reason"), model=d.get("model"), params=d.get("params") or {},
            tokens=d.get("tokens"), time=d.get("time", 0.0), source=d.get("source", "llm"),
        )


def _parse(line: bytes) -> SummaryRecord | None:
    try:
        return SummaryRecord.from_dict(json.loads(line)) if line.strip() else None
    except (json.JSONDecodeError, KeyError, ValueError, TypeError, UnicodeDecodeError, AttributeError):
        raise ValueError("corrupt record line") from None


def _iter_segment(path: Path) -> Iterator[SummaryRecord]:
    """A segment's records, read line by line (constant memory); corrupt lines are skipped with a
    warning, a torn last line (no newline, or not JSON) silently."""
    bad = 0
    with path.open("rb") as fh:
        pos = 0
        for line in fh:
            complete = line.endswith(b"\n")
            try:
                record = _parse(line)
            except ValueError:
                bad += 1
                if complete and fh.peek(1):
                    log.warning("%s: skipping corrupt line at byte %d", path, pos)
                record = None
            pos += len(line)
            if record is not None and complete:
                yield record
            elif record is not None:  # a valid last line without its newline: torn, ignored like the rest
                bad += 1
    if bad:
        log.warning("%s: ignoring %d incomplete/corrupt line(s)", path, bad)


def _good_end(path: Path, block: int = 1 << 16) -> int:
    """Byte offset after the last complete, parseable line: a torn tail starts there (reads only the tail)."""
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb") as fh:
        fh.seek(size - 1)
        if fh.read(1) == b"\n":  # the last line is complete: is it a record?
            start = _line_start(fh, size - 1, block)
            fh.seek(start)
            try:
                _parse(fh.read(size - start))
                return size
            except ValueError:
                return start
        return _line_start(fh, size, block)  # no newline at the end: cut the partial line


def _line_start(fh, end: int, block: int) -> int:
    """Offset of the first byte after the last newline before ``end``."""
    pos = end
    while pos > 0:
        step = min(block, pos)
        fh.seek(pos - step)
        chunk = fh.read(step)
        nl = chunk.rfind(b"\n")
        if nl != -1:
            return pos - step + nl + 1
        pos -= step
    return 0


def key_hash(key: Key) -> int:
    """A 64-bit hash of a record key (dedup indexes hold these, not the keys' strings)."""
    digest = hashlib.blake2b(f"{key[0]}\x1f{key[1]}\x1f{key[2]}".encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class SegmentWriter:
    """Appends records to one segment under an exclusive lock; use as a context manager."""

    def __init__(self, store: "SummaryStore", segment: str, fsync_every: int = 1):
        self.path = store.records_dir / f"{segment}.jsonl"
        self.lock_path = store.records_dir / f"{segment}.lock"
        self.fsync_every = max(1, fsync_every)
        self._pending = 0
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self.repaired_bytes = 0

    def __enter__(self) -> "SegmentWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.lock_path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._lock_fd)
            raise StoreError(f"{self.path} is being written by another process (lock {self.lock_path})") from exc
        if self.path.exists():
            good_end = _good_end(self.path)
            size = self.path.stat().st_size
            if good_end < size:
                self.repaired_bytes = size - good_end
                log.warning("%s: repaired a torn write (%d bytes cut after the last complete record)", self.path, self.repaired_bytes)
                os.truncate(self.path, good_end)
        self._fd = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
        return self

    def write(self, records: Iterable[SummaryRecord]) -> None:
        payload = "".join(r.to_json() + "\n" for r in records).encode("utf-8")
        if not payload:
            return
        assert self._fd is not None, "writer is not open"
        view = memoryview(payload)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        self._pending += 1
        if self._pending >= self.fsync_every:
            self.sync()

    def sync(self) -> None:
        if self._fd is not None and self._pending:
            os.fsync(self._fd)
            self._pending = 0

    def __exit__(self, *exc: Any) -> None:
        self.sync()
        if self._fd is not None:
            os.close(self._fd)
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
        self._fd = self._lock_fd = None


class SummaryStore:
    """All records of a run directory (every segment), deduplicated by key: first record wins."""

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.records_dir = self.run_dir / "records"

    def segments(self) -> list[Path]:
        return sorted(self.records_dir.glob("*.jsonl")) if self.records_dir.is_dir() else []

    def _stream(self) -> Iterator[SummaryRecord]:
        for seg in self.segments():
            yield from _iter_segment(seg)

    def _winners(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pass 1 over every record (keeps 17 bytes per record): (key hashes, failed flags, winner flags).
        The winner of a key is its first record that did not fail, else its first record."""
        hashes, failed = [], []
        for r in self._stream():
            hashes.append(key_hash(r.key))
            failed.append(r.status == "failed")
        h, f = np.asarray(hashes, dtype=np.int64), np.asarray(failed, dtype=bool)
        order = np.lexsort((np.arange(len(h)), f, h))
        first = np.ones(len(h), dtype=bool)
        first[1:] = h[order][1:] != h[order][:-1]
        winners = np.zeros(len(h), dtype=bool)
        winners[order[first]] = True
        return h, f, winners

    def iter_all(self) -> Iterator[SummaryRecord]:
        """One record per key (the first, unless it failed and a later record did not), streamed: two
        passes over the segments, memory of 17 bytes per record."""
        _, _, winners = self._winners()
        for i, r in enumerate(self._stream()):
            if i < len(winners) and winners[i]:
                yield r

    def records(self, status: str | None = "ok") -> list[SummaryRecord]:
        return [r for r in self.iter_all() if status is None or r.status == status]

    def keys(self, include_failed: bool = True) -> set[Key]:
        return {r.key for r in self.iter_all() if include_failed or r.status != "failed"}

    def key_hashes(self, include_failed: bool = True) -> set[int]:
        """:func:`key_hash` of every key (of keys with an answer if not ``include_failed``); one pass."""
        h, f, winners = self._winners()
        chosen = winners if include_failed else winners & ~f
        return set(h[chosen].tolist())

    def __len__(self) -> int:
        """Number of keys (one pass, no record kept)."""
        return int(self._winners()[2].sum())

    def texts_by_paper(self, prompt_ids: Iterable[str] | None = None) -> dict[str, list[str]]:
        """Accepted texts grouped by paper id (in prompt, sample order)."""
        wanted = set(prompt_ids) if prompt_ids is not None else None
        out: dict[str, list[tuple[str, int, str]]] = {}
        for r in self.iter_all():
            if r.status == "ok" and (wanted is None or r.prompt_id in wanted):
                out.setdefault(r.paper_id, []).append((r.prompt_id, r.sample, r.text))
        return {pid: [t for _, _, t in sorted(items)] for pid, items in out.items()}

    def writer(self, segment: str = "main", fsync_every: int = 1) -> SegmentWriter:
        return SegmentWriter(self, segment, fsync_every)

    # ---- import / export / merge -------------------------------------------------------------

    def export(self, path: str | Path, fmt: str | None = None, include_rejected: bool = False,
               batch_size: int = 50_000) -> int:
        """Write records to JSONL or Parquet (by suffix or ``fmt``), streamed in batches and moved into
        place when complete. Returns the number written."""
        path = Path(path)
        fmt = fmt or path.suffix.lstrip(".").lower()
        if fmt not in ("jsonl", "parquet"):
            raise StoreError(f"unknown export format {fmt!r} (jsonl or parquet)")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        n = 0
        try:
            batches = _batched((r for r in self.iter_all() if include_rejected or r.status == "ok"), batch_size)
            if fmt == "jsonl":
                with tmp.open("w", encoding="utf-8") as fh:
                    for batch in batches:
                        fh.write("".join(json.dumps(json.loads(r.to_json()), ensure_ascii=False) + "\n" for r in batch))
                        n += len(batch)
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                writer = None
                for batch in batches:
                    dicts = [json.loads(r.to_json()) for r in batch]
                    table = pa.table({c: pa.array([d.get(c) for d in dicts], type=pa.type_for_alias(t)) for c, t in EXPORT_COLUMNS.items()}
                                     | {"params": pa.array([json.dumps(d.get("params", {})) for d in dicts], pa.string())})
                    writer = writer or pq.ParquetWriter(tmp, table.schema)
                    writer.write_table(table)
                    n += len(batch)
                if writer is None:
                    pq.write_table(pa.table({c: pa.array([], type=pa.type_for_alias(t)) for c, t in EXPORT_COLUMNS.items()}
                                            | {"params": pa.array([], pa.string())}), tmp)
                else:
                    writer.close()
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return n

    def import_summaries(
        self, path: str | Path, id_field: str = "id", summaries_field: str = "summaries",
        prompt_id: str = "imported", segment: str | None = None, batch_size: int = 10_000,
    ) -> dict[str, int]:
        """Import ``{id, summaries: [...]}`` JSONL (e.g. released summaries or SciTLDR ``target``), streamed:
        records are written every ``batch_size``, so a cut import continues where it stopped.

        A string instead of a list counts as one summary. Returns counts of imported and skipped rows.
        """
        from semcse.corpus import iter_jsonl  # same tolerant reader as corpora

        path = Path(path)
        if not path.exists():
            raise StoreError(f"import file not found: {path}")
        counts = {"rows": 0, "imported": 0, "skipped_rows": 0, "already_present": 0}
        with self.writer(segment or f"import-{prompt_id}") as w:
            done = self.key_hashes(include_failed=False)
            batch: list[SummaryRecord] = []
            for row, obj in iter_jsonl(path):
                counts["rows"] += 1
                if isinstance(obj, Exception):
                    log.warning("%s:%d: %s -> skipped", path, row, obj)
                    counts["skipped_rows"] += 1
                    continue
                pid, texts = obj.get(id_field), obj.get(summaries_field)
                if pid is None or texts is None:
                    log.warning("%s:%d: missing %r or %r -> skipped", path, row, id_field, summaries_field)
                    counts["skipped_rows"] += 1
                    continue
                texts = [texts] if isinstance(texts, str) else list(texts)
                for i, text in enumerate(t for t in texts if isinstance(t, str) and t.strip()):
                    rec = SummaryRecord(str(pid), prompt_id, i, text.strip(), source="import", model=f"import:{path.name}")
                    h = key_hash(rec.key)
                    if h in done:
                        counts["already_present"] += 1
                        continue
                    done.add(h)
                    batch.append(rec)
                if len(batch) >= batch_size:
                    w.write(batch)
                    counts["imported"] += len(batch)
                    batch = []
            w.write(batch)
            counts["imported"] += len(batch)
        return counts

    def merge(self, sources: Iterable[str | Path], segment: str = "merged", batch_size: int = 10_000) -> int:
        """Copy every record of other run directories into this one (deduplicated, streamed). Returns new records."""
        sources = list(sources)
        for src in sources:
            if not SummaryStore(src).segments():
                raise StoreError(f"{src}: no records/ segments to merge")
        n = 0
        with self.writer(segment) as w:
            h, f, winners = self._winners()
            done, present = set(h[winners & ~f].tolist()), set(h[winners].tolist())
            for src in sources:
                for batch in _batched(SummaryStore(src).iter_all(), batch_size):
                    new = []
                    for r in batch:
                        k = key_hash(r.key)
                        if k not in done and not (r.status == "failed" and k in present):
                            done.add(k)
                            new.append(r)
                    w.write(new)
                    n += len(new)
        return n


EXPORT_COLUMNS = {"paper_id": "string", "prompt_id": "string", "sample": "int64", "text": "string", "status": "string",
                  "reason": "string", "model": "string", "tokens": "int64", "time": "float64", "source": "string"}


def _batched(items: Iterable, size: int) -> Iterator[list]:
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
