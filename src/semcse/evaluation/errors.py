"""The two exceptions every evaluation module shares (kept apart so no module imports another for them)."""

from __future__ import annotations


class BenchmarkError(ValueError):
    """A benchmark file, task or data file that cannot be used; the message names the file, the task and the problem."""


class TaskSkipped(Exception):
    """A task that cannot run in this configuration for a benign reason (e.g. no generated queries given)."""
