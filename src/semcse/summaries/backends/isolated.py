"""Run a backend in a child process, so a native crash is reported instead of suffered.

llama.cpp runs machine code chosen at build time; if it uses an instruction this CPU cannot
execute (e.g. AMX advertised by a VM that traps it) the process dies with SIGILL, which Python
cannot catch. :class:`IsolatedBackend` keeps the engine in a spawned child and turns the child's
death into a :class:`BackendError` naming the signal; the caller has already stored every
finished paper.

Papers stream to the child: up to the engine's ``job_window`` unfinished papers are in the child
at once (the continuous engine batches across them), and each paper's generations come back as
soon as the engine yields them.
"""
from __future__ import annotations

import multiprocessing as mp
import queue
import threading
from typing import Any, Iterable, Iterator

from semcse.config import SamplingConfig
from semcse.exits import describe_exit
from semcse.summaries.backends.base import BackendError, Generation, PaperJob


class _Closed(Exception):
    """The parent asked the child to stop in the middle of a run."""


def _serve(conn, factory, kwargs: dict[str, Any]) -> None:
    """Child side: build the backend, then serve runs until ("close",).

    A run is ("run", sampling), ("job", index, job)..., ("end",); the child answers ("gens", (index,
    generations)) as the backend yields, then ("done", stats) or ("error", message). A reader thread
    takes the parent's messages while the engine works, so the parent never waits to send."""
    try:
        backend = factory(**kwargs)
    except BackendError as exc:
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", (backend.model_name, int(getattr(backend, "job_window", 1)))))
    inbox: queue.Queue = queue.Queue()

    def read() -> None:
        try:
            while True:
                msg = conn.recv()
                inbox.put(msg)
                if msg[0] == "close":
                    return
        except (EOFError, OSError):
            inbox.put(("close",))

    threading.Thread(target=read, daemon=True, name="semcse-engine-inbox").start()
    try:
        while True:
            msg = inbox.get()
            if msg[0] == "close":
                break
            if msg[0] != "run":  # what is left of a run that failed
                continue
            index: dict[int, int] = {}

            def jobs() -> Iterator[PaperJob]:
                while True:
                    m = inbox.get()
                    if m[0] == "job":
                        index[id(m[2])] = m[1]
                        yield m[2]
                    elif m[0] == "end":
                        return
                    elif m[0] == "close":
                        raise _Closed

            try:
                for job, gens in backend.run(jobs(), msg[1]):
                    conn.send(("gens", (index[id(job)], gens)))
                conn.send(("done", dict(getattr(backend, "stats", {}) or {})))
            except BackendError as exc:
                conn.send(("error", str(exc)))
    except (_Closed, EOFError, BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
        pass  # the parent is gone or stopping: nothing to answer
    finally:
        backend.close()


class IsolatedBackend:
    """A backend (``factory(**kwargs)``, built in a spawned child) behind a pipe.

    Same interface as the backend it wraps; the child's death (signal or exit) raises
    :class:`BackendError` with the signal named and the fix.
    """

    def __init__(self, factory, what: str = "the generation engine", **kwargs: Any):
        ctx = mp.get_context("spawn")  # no fork of a process that may hold threads / a model
        self.what = what
        self._conn, child_conn = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child_conn, factory, kwargs), daemon=True, name="semcse-engine")
        self._proc.start()
        child_conn.close()
        kind, payload = self._recv()
        if kind == "error":
            self.close()
            raise BackendError(payload)
        self.model_name: str = payload[0]
        self.job_window: int = max(1, payload[1])  # unfinished papers the engine wants at once
        self.stats: dict = {}  # the engine's counters after the last complete run
        self._abandoned = False

    def _recv(self) -> tuple[str, Any]:
        while not self._conn.poll(0.5):
            if not self._proc.is_alive():
                break
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            self._proc.join(10)
            raise BackendError(describe_exit(self.what, self._proc.exitcode)) from None

    def _send(self, msg: tuple) -> None:
        try:
            self._conn.send(msg)
        except (BrokenPipeError, OSError):
            self._proc.join(10)
            raise BackendError(describe_exit(self.what, self._proc.exitcode)) from None

    def run(self, jobs: Iterable[PaperJob], sampling: SamplingConfig) -> Iterator[tuple[PaperJob, list[Generation]]]:
        if self._abandoned:
            raise BackendError(f"{self.what} was stopped in the middle of a run; start a new one")
        self._send(("run", sampling))
        sent_jobs: dict[int, PaperJob] = {}
        pending: dict[int, int] = {}  # index -> generations still to come
        source = iter(jobs)
        sent = 0
        exhausted = done = False
        try:
            while True:
                while not exhausted and len(pending) < self.job_window:
                    job = next(source, None)
                    if job is None:
                        exhausted = True
                        self._send(("end",))
                        break
                    sent_jobs[sent], pending[sent] = job, len(job.requests)
                    self._send(("job", sent, job))
                    sent += 1
                kind, payload = self._recv()
                if kind == "error":
                    done = True
                    raise BackendError(payload)
                if kind == "done":
                    done = True
                    self.stats = payload
                    return
                i, gens = payload
                job = sent_jobs[i]
                if i in pending:
                    pending[i] -= len(gens)
                    if pending[i] <= 0:
                        del pending[i]
                        del sent_jobs[i]
                yield job, gens
        finally:
            if not done:  # the caller stopped early (or the child died): this child's run cannot be resumed
                self._abandoned = True

    @property
    def exitcode(self) -> int | None:
        return self._proc.exitcode

    def close(self) -> None:
        if self._proc.is_alive():
            try:
                self._conn.send(("close",))
            except (BrokenPipeError, OSError):
                pass
            self._proc.join(1 if getattr(self, "_abandoned", False) else 30)  # a run left half-way: no need to wait
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)
        self._conn.close()
