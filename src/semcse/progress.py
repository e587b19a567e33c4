"""Progress for long jobs: items done / total, rates and ETA.

On a terminal this is a rich progress bar; elsewhere (CI, logs, pipes) a plain line is printed
every ``interval`` seconds so long runs still show they are alive.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``; ``?`` when unknown (NaN or infinite)."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Tracks ``done``/``total`` items plus named counters whose rates are shown (e.g. tokens/s)."""

    def __init__(self, description: str, total: int, unit: str = "items", rates: tuple[str, ...] = (), enabled: bool = True,
                 stream: TextIO | None = None, interval: float = 10.0):
        self.description, self.total, self.unit, self.rate_names = description, total, unit, rates
        self.done = 0
        self.counters = {name: 0.0 for name in rates}
        self.start = time.perf_counter()
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.interval = interval
        self._last_print = 0.0
        self._bar = None
        if enabled and self.stream.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeRemainingColumn

            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(self.unit),
                TextColumn("{task.fields[rates]}"), TextColumn("ETA"), TimeRemainingColumn(),
                console=Console(file=self.stream), transient=False,
            )
            self._task = self._bar.add_task(description, total=total, rates="")
            self._bar.start()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def rate(self, name: str) -> float:
        return self.counters[name] / self.elapsed if self.elapsed > 0 else 0.0

    def rates_text(self) -> str:
        return "  ".join(f"{self.rate(n):.2f} {n}/s" for n in self.rate_names)

    def line(self) -> str:
        eta = (self.total - self.done) * self.elapsed / self.done if self.done else float("nan")
        return f"{self.description}: {self.done}/{self.total} {self.unit}  {self.rates_text()}  elapsed {format_duration(self.elapsed)}  ETA {format_duration(eta)}"

    def advance(self, n: int = 1, **counts: float) -> None:
        self.done += n
        for k, v in counts.items():
            self.counters[k] = self.counters.get(k, 0.0) + v
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, rates=self.rates_text())
        elif time.perf_counter() - self._last_print >= self.interval or self.done == self.total:
            self._last_print = time.perf_counter()
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
