"""Run a backend in a child process, so a native crash is reported instead of suffered.

llama.cpp runs machine code chosen at build time; if it uses an instruction this CPU cannot
execute (e.g. AMX advertised by a VM that traps it) the process dies with SIGILL, which Python
cannot catch. :class:`IsolatedBackend` keeps the engine in a spawned child, sends it one paper at
a time and turns the child's death into a :class:`BackendError` naming the signal; the caller has
already stored every finished paper.
"""
from __future__ import annotations

import multiprocessing as mp
from typing import Any, Iterable, Iterator

from semcse.config import SamplingConfig
from semcse.exits import describe_exit
from semcse.summaries.backends.base import BackendError, Generation, PaperJob


def _serve(conn, factory, kwargs: dict[str, Any]) -> None:
    """Child side: build the backend, then answer ("paper", job, sampling) until ("close",)."""
    try:
        backend = factory(**kwargs)
    except BackendError as exc:
        conn.send(("error", str(exc)))
        return
    conn.send(("ready", backend.model_name))
    try:
        while True:
            msg = conn.recv()
            if msg[0] == "close":
                break
            _, job, sampling = msg
            try:
                conn.send(("done", [gens for _, gens in backend.run([job], sampling)]))
            except BackendError as exc:
                conn.send(("error", str(exc)))
    except (EOFError, BrokenPipeError, ConnectionResetError, KeyboardInterrupt):
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
        self.model_name: str = payload

    def _recv(self) -> tuple[str, Any]:
        while not self._conn.poll(0.5):
            if not self._proc.is_alive():
                break
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            self._proc.join(10)
            raise BackendError(describe_exit(self.what, self._proc.exitcode)) from None

    def run(self, jobs: Iterable[PaperJob], sampling: SamplingConfig) -> Iterator[tuple[PaperJob, list[Generation]]]:
        for job in jobs:
            try:
                self._conn.send(("paper", job, sampling))
            except (BrokenPipeError, OSError):
                self._proc.join(10)
                raise BackendError(describe_exit(self.what, self._proc.exitcode)) from None
            kind, payload = self._recv()
            if kind == "error":
                raise BackendError(payload)
            for gens in payload:
                yield job, gens

    @property
    def exitcode(self) -> int | None:
        return self._proc.exitcode

    def close(self) -> None:
        if self._proc.is_alive():
            try:
                self._conn.send(("close",))
            except (BrokenPipeError, OSError):
                pass
            self._proc.join(30)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join(5)
        self._conn.close()
