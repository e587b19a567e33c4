"""The one interface every generation backend implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Protocol

from semcse.config import SamplingConfig


class BackendError(RuntimeError):
    """Generation cannot go on (server unreachable after retries, model file missing, ...)."""


@dataclass
class Request:
    """One generation: a (prompt, sample) of a paper, as chat messages."""

    prompt_id: str
    sample: int
    messages: list[dict[str, str]]
    stop: tuple[str, ...] = ()


@dataclass
class PaperJob:
    """All pending requests of one paper; backends may share its prefix across them."""

    paper_id: str
    requests: list[Request]


@dataclass
class Generation:
    """A backend's raw output for one request."""

    prompt_id: str
    sample: int
    text: str
    tokens: int = 0
    prompt_tokens: int = 0
    finish_reason: str = "stop"  # stop | length
    extra: dict = field(default_factory=dict)


class Backend(Protocol):
    """Turns paper jobs into generations.

    ``run`` yields ``(job, generations)`` as work completes, possibly several times per job and
    not necessarily in input order; on a fatal error it first yields what has finished, then
    raises :class:`BackendError`.
    """

    model_name: str

    def run(self, jobs: Iterable[PaperJob], sampling: SamplingConfig) -> Iterator[tuple[PaperJob, list[Generation]]]: ...

    def close(self) -> None: ...
