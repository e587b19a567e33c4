"""The command line's error contract: one line and an exit code, the traceback only with --debug."""

from __future__ import annotations

import subprocess
import sys

from _support import SEMCSE

# run the real CLI in a child whose doctor checks raise an error semcse does not know (a bug, as a user meets it)
BUGGY = ("import sys, semcse.system.doctor as d\n"
         "def broken(**kw):\n    raise ZeroDivisionError('division by zero')\n"
         "d.run_checks = broken\n"
         "from semcse.cli import main\nsys.argv = ['semcse', *sys.argv[1:]]\nmain()\n")


def _buggy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BUGGY, *args], capture_output=True, text=True, timeout=120)


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback():
    res = _buggy("doctor", "--no-llama")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    line = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert len(line) == 1 and "unexpected ZeroDivisionError: division by zero" in line[0] and "--debug" in line[0]
    debug = _buggy("--debug", "doctor", "--no-llama")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr


def test_debug_adds_the_traceback_to_an_input_error(tmp_path):
    fake = tmp_path / "papers.parquet"
    fake.write_text("not parquet\n")
    args = ["summarize", "--corpus", str(fake), "--out", str(tmp_path / "o")]
    plain = subprocess.run(SEMCSE + args, capture_output=True, text=True, timeout=120)
    debug = subprocess.run([*SEMCSE, "--debug", *args],
                           capture_output=True, text=True, timeout=120)
    for res in (plain, debug):
        assert res.returncode == 2 and "not a readable Parquet file" in res.stderr
    assert "Traceback" not in plain.stderr and "Traceback" in debug.stderr


def test_version():
    from semcse import __version__

    res = subprocess.run(SEMCSE + ["--version"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == f"semcse {__version__}"
