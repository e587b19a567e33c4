"""The ``semcse`` command line: a thin layer over the Python API (one module per command)."""

from __future__ import annotations

import logging
import os
import sys

import typer

app = typer.Typer(
    name="semcse", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="SemCSE embeddings for scientific text: summarize, train, evaluate, embed, search, or run it all.",
)


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` in red on stderr and exit with ``code`` (2: bad input, 1: the job failed)."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    if not verbose:  # model-loading bars of transformers / hub; our own progress stays
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "openai", "urllib3", "filelock", "datasets", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


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
    app()
