"""The ``semcse`` command line: a thin layer over the Python API (one module per command).

:mod:`semcse.cli.common` holds the typer ``app`` and the helpers every command uses; each command
module (``summarize``, ``train``, ``evaluate``, ``embed``, ``run``, ``doctor``) adds itself to
``app`` when :func:`_register` imports it.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path

import typer

from semcse.cli.common import (  # noqa: F401  (the names commands and tests use, re-exported)
    DEBUG_ENV, PROGRESS_FLAGS, app, command_line_options, config_option, corpus_options, debugging, fail,
)


def _register() -> None:
    # each command module adds itself to ``app``; later stages register here with one line
    from semcse.cli import summarize  # noqa: F401
    from semcse.cli import train  # noqa: F401
    from semcse.cli import evaluate  # noqa: F401
    from semcse.cli import embed  # noqa: F401  (embed and search)
    from semcse.cli import run  # noqa: F401
    from semcse.cli import doctor  # noqa: F401


def main() -> None:
    _register()
    try:
        app()
    except Exception as exc:  # not a known input or job error: still one line, the traceback behind --debug
        if debugging():
            raise
        where = traceback.extract_tb(exc.__traceback__)[-1]
        typer.secho(f"error: unexpected {exc.__class__.__name__}: {exc} (at {Path(where.filename).name}:{where.lineno}; "
                    "rerun with semcse --debug ... for the traceback and report it)", fg=typer.colors.RED, err=True)
        sys.exit(1)
