"""Naming how a child process ended: a native crash becomes one readable line with a fix.

Used by the summarizer's isolated backend (:mod:`semcse.summaries.backends.isolated`) and by
``semcse doctor`` (:mod:`semcse.system.doctor`); it imports nothing of semcse, so both import it
without either depending on the other."""
from __future__ import annotations

import signal

REBUILD = ("rebuild llama-cpp-python for this CPU: `rm -rf ~/.cache/semcse/wheels && bash scripts/install.sh` "
           "(portable build, no -march=native, no AMX), then check with `semcse doctor`")


def signal_name(exitcode: int | None) -> str | None:
    """``SIGILL (Illegal instruction)`` for a child killed by a signal (negative exit code), else None."""
    if exitcode is None or exitcode >= 0:
        return None
    try:
        sig = signal.Signals(-exitcode)
    except ValueError:
        return f"signal {-exitcode}"
    return f"{sig.name} ({signal.strsignal(sig) or sig.name})"


def describe_exit(what: str, exitcode: int | None) -> str:
    """One line saying how ``what`` ended, and for a native crash, what to do about it."""
    name = signal_name(exitcode)
    if name is None:
        return f"{what} exited with code {exitcode}"
    line = f"{what} died with {name}"
    if exitcode in (-signal.SIGILL, -signal.SIGSEGV, -signal.SIGBUS, -signal.SIGFPE, -signal.SIGABRT):
        line += f"; it is a native crash inside llama.cpp: {REBUILD}"
    return line
