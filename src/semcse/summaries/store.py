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
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

from semcse.fileio import atomic_write_text

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


def _scan(path: Path) -> tuple[list[SummaryRecord], int, int]:
    """Parse a segment. Returns (records, byte offset after the last good line, bad line count)."""
    records: list[SummaryRecord] = []
    good_end = 0
    bad = 0
    with path.open("rb") as fh:
        data = fh.read()
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl == -1:  # torn tail: no newline
            bad += 1
            break
        line = data[pos:nl]
        try:
            if line.strip():
                records.append(SummaryRecord.from_dict(json.loads(line)))
            good_end = nl + 1
        except (json.JSONDecodeError, KeyError, ValueError, TypeError, UnicodeDecodeError):
            bad += 1
            if nl + 1 >= len(data):
                break  # torn last line
            log.warning("%s: skipping corrupt line at byte %d", path, pos)
            good_end = nl + 1
        pos = nl + 1
    return records, good_end, bad


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
            _, good_end, _ = _scan(self.path)
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

    def iter_all(self) -> Iterator[SummaryRecord]:
        """One record per key: the first, unless it failed and a later record did not."""
        chosen: dict[Key, SummaryRecord] = {}
        for seg in self.segments():
            records, _, bad = _scan(seg)
            if bad:
                log.warning("%s: ignoring %d incomplete/corrupt line(s)", seg, bad)
            for r in records:
                old = chosen.get(r.key)
                if old is None or (old.status == "failed" and r.status != "failed"):
                    chosen[r.key] = r
        yield from chosen.values()

    def records(self, status: str | None = "ok") -> list[SummaryRecord]:
        return [r for r in self.iter_all() if status is None or r.status == status]

    def keys(self, include_failed: bool = True) -> set[Key]:
        return {r.key for r in self.iter_all() if include_failed or r.status != "failed"}

    def __len__(self) -> int:
        return sum(1 for _ in self.iter_all())

    def texts_by_paper(self, prompt_ids: Iterable[str] | None = None) -> dict[str, list[str]]:
        """Accepted texts grouped by paper id (in prompt, sample order)."""
        wanted = set(prompt_ids) if prompt_ids is not None else None
        out: dict[str, list[tuple[str, int, str]]] = {}
        for r in self.records("ok"):
            if wanted is None or r.prompt_id in wanted:
                out.setdefault(r.paper_id, []).append((r.prompt_id, r.sample, r.text))
        return {pid: [t for _, _, t in sorted(items)] for pid, items in out.items()}

    def writer(self, segment: str = "main", fsync_every: int = 1) -> SegmentWriter:
        return SegmentWriter(self, segment, fsync_every)

    # ---- import / export / merge -------------------------------------------------------------

    def export(self, path: str | Path, fmt: str | None = None, include_rejected: bool = False) -> int:
        """Write records to JSONL or Parquet (by suffix or ``fmt``). Returns the number written."""
        path = Path(path)
        fmt = fmt or path.suffix.lstrip(".").lower()
        rows = [r for r in self.iter_all() if include_rejected or r.status == "ok"]
        dicts = [json.loads(r.to_json()) for r in rows]
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "jsonl":
            atomic_write_text(path, "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in dicts))
        elif fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            cols = ["paper_id", "prompt_id", "sample", "text", "status", "reason", "model", "tokens", "time", "source"]
            table = pa.table({c: [d.get(c) for d in dicts] for c in cols} | {"params": [json.dumps(d.get("params", {})) for d in dicts]})
            pq.write_table(table, path)
        else:
            raise StoreError(f"unknown export format {fmt!r} (jsonl or parquet)")
        return len(rows)

    def import_summaries(
        self, path: str | Path, id_field: str = "id", summaries_field: str = "summaries",
        prompt_id: str = "imported", segment: str | None = None,
    ) -> dict[str, int]:
        """Import ``{id, summaries: [...]}`` JSONL (e.g. released summaries or SciTLDR ``target``).

        A string instead of a list counts as one summary. Returns counts of imported and skipped rows.
        """
        from semcse.corpus import iter_jsonl  # same tolerant reader as corpora

        path = Path(path)
        if not path.exists():
            raise StoreError(f"import file not found: {path}")
        done = self.keys(include_failed=False)
        counts = {"rows": 0, "imported": 0, "skipped_rows": 0, "already_present": 0}
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
                if rec.key in done:
                    counts["already_present"] += 1
                    continue
                done.add(rec.key)
                batch.append(rec)
        with self.writer(segment or f"import-{prompt_id}") as w:
            w.write(batch)
        counts["imported"] = len(batch)
        return counts

    def merge(self, sources: Iterable[str | Path], segment: str = "merged") -> int:
        """Copy every record of other run directories into this one (deduplicated). Returns new records."""
        done, present = self.keys(include_failed=False), self.keys()
        new: list[SummaryRecord] = []
        for src in sources:
            other = SummaryStore(src)
            if not other.segments():
                raise StoreError(f"{src}: no records/ segments to merge")
            for r in other.iter_all():
                if r.key not in done and not (r.status == "failed" and r.key in present):
                    done.add(r.key)
                    new.append(r)
        with self.writer(segment) as w:
            w.write(new)
        return len(new)
