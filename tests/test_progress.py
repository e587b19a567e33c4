"""The plain progress line (logs, CI, pipes): counts, rates, elapsed time and ETA."""

from __future__ import annotations

import io
import re

from semcse.progress import Progress, format_duration


def test_format_duration():
    assert format_duration(0) == "0:00"
    assert format_duration(75.9) == "1:15"
    assert format_duration(3 * 3600 + 5 * 60 + 7) == "3:05:07"
    assert format_duration(float("nan")) == format_duration(float("inf")) == "?"


def test_plain_line_counts_rates_and_eta():
    stream = io.StringIO()  # not a terminal: plain lines
    progress = Progress("summaries", total=10, unit="summaries", rates=("tokens",), stream=stream, interval=0.0)
    assert "ETA ?" in progress.line()  # nothing done yet: no estimate
    progress.advance(4, tokens=400)
    progress.advance(1, tokens=100)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("summaries: 5/10 summaries")
    rate = float(re.search(r"([\d.]+) tokens/s", lines[-1]).group(1))
    assert rate > 0 and progress.counters["tokens"] == 500
    assert re.search(r"ETA \d+:\d\d$", lines[-1])


def test_disabled_progress_prints_nothing_but_counts():
    stream = io.StringIO()
    progress = Progress("papers", total=3, stream=stream, enabled=False, interval=0.0)
    progress.advance(3)
    assert progress.done == 3 and stream.getvalue() == ""
