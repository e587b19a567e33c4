"""Helpers shared by test modules (imported as ``from _support import ...``: a name no conftest.py
shadows, whichever test directories one pytest run collects)."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SEMCSE = [sys.executable, "-m", "semcse"]
REPO = Path(__file__).resolve().parents[1]


def load_script(name: str):
    """A module of ``scripts/`` (``scripts/<name>.py``), imported by path: the folder is no package."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wait_for(proc: subprocess.Popen, done: Callable[[], bool], timeout: float, what: str, stderr_path: Path | None = None) -> None:
    """Poll ``done()`` until true; fail at once (with the child's stderr) if ``proc`` exits first."""
    deadline = time.time() + timeout
    while not done():
        code = proc.poll()
        if code is not None:
            err = stderr_path.read_text(errors="replace")[-3000:] if stderr_path and stderr_path.exists() else ""
            pytest.fail(f"child exited with {code} before {what}:\n{err}")
        if time.time() > deadline:
            proc.kill()
            pytest.fail(f"no {what} within {timeout:.0f} s")
        time.sleep(0.1)
