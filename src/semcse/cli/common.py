"""What every command shares: the typer ``app``, one-line errors (:func:`fail`), options taken from the
config dataclasses (:func:`config_option`, :func:`corpus_options`) and the root callback.

Command modules import this module and add themselves to ``app``; :mod:`semcse.cli` imports them.
Nothing here imports a command module, so the package has no import circle."""

from __future__ import annotations

import functools
import inspect
import logging
import os
import sys
import traceback
import typing
from typing import Any, Callable, Mapping, Optional

import typer

app = typer.Typer(
    name="semcse", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="SemCSE embeddings for scientific text: summarize, train, evaluate, embed, search, or run it all.",
)


DEBUG_ENV = "SEMCSE_DEBUG"  # set by --debug: tracebacks are printed with the one-line errors


def debugging() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` in red on stderr and exit with ``code`` (2: bad input, 1: the job failed);
    with ``--debug``, the traceback of the exception being handled comes first."""
    if debugging() and sys.exc_info()[0] is not None:
        traceback.print_exc()
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


_FROM_FIELD: Any = object()
PROGRESS_FLAGS = ("--progress/--no-progress", " /--quiet")  # every command: --no-progress or --quiet turns progress off


def option_help(cls: type, name: str) -> str:
    """What ``--help`` shows for field ``name`` of config class ``cls``: its help text and its valid range
    (:func:`semcse.config.field_help`), with ``[`` escaped for typer's rich markup."""
    from semcse.config import field_help

    return field_help(cls, name).replace("[", "\\[")


def config_option(cls: type, name: str, *param_decls: str, default: Any = _FROM_FIELD, **kwargs: Any) -> Any:
    """The typer option for field ``name`` of config class ``cls``: its help text with its valid range and
    its default (a tuple becomes a list, for a repeatable option), unless ``default`` is given: ``...``
    when the command requires it, None when "not given" must stay visible (a config file or a preset
    decides). The value itself is checked when the command builds its config (one line, exit 2)."""
    from semcse.config import config_field

    field = config_field(cls, name)  # a clear error for a name the config lacks
    if default is _FROM_FIELD:
        default = list(field.default) if isinstance(field.default, tuple) else field.default
    return typer.Option(default, *param_decls, help=option_help(cls, name), **kwargs)


CORPUS_OPTIONS = ("source", "format", "split", "id_field", "title_field", "abstract_field", "label_field",
                  "title_from_first_sentence", "max_abstract_chars")
_CORPUS_FLAGS = {"source": ("--corpus",), "format": ("--format",)}


def corpus_options(*, required: bool = False, limit: bool = False, unset: bool = False) -> Callable[[Callable], Callable]:
    """Give a command the corpus options (one group, the same in every command: ``--corpus``, ``--format``,
    ``--id-field`` ... from :class:`~semcse.config.CorpusConfig`, plus ``--limit`` with ``limit``) ahead of its
    own, and hand their values to it as one ``corpus_options`` dict keyed by field name (a
    ``CorpusConfig.from_options`` input). ``required``: ``--corpus`` must be given; ``unset``: every option
    defaults to None, so the command can tell what was given (``semcse run``: the rest comes from a config file)."""
    from semcse.config import CorpusConfig

    names = CORPUS_OPTIONS + (("limit",) if limit else ())
    hints = typing.get_type_hints(CorpusConfig)

    def decorate(command: Callable) -> Callable:
        own = inspect.signature(command, eval_str=True)
        added = []
        for name in names:
            default = ... if required and name == "source" else None if unset else _FROM_FIELD
            annotation = Optional[hints[name]] if unset else hints[name]
            added.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                           default=config_option(CorpusConfig, name, *_CORPUS_FLAGS.get(name, ()), default=default)))

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return command(*args, corpus_options={name: kwargs.pop(name) for name in names}, **kwargs)

        context = [p for p in own.parameters.values() if p.annotation is typer.Context]
        rest = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own.parameters.values()
                if p.name != "corpus_options" and p not in context]
        wrapper.__signature__ = own.replace(parameters=[*context, *added, *rest])  # typer reads this signature
        wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}
        return wrapper

    return decorate


def command_line_options(ctx: typer.Context, values: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters in ``values`` that the user gave on the command line (not left at their defaults)."""
    # by name: typer >= 0.17 ships its own copy of click's ParameterSource enum
    return {k: v for k, v in values.items() if getattr(ctx.get_parameter_source(k), "name", None) == "COMMANDLINE"}


def _print_version(value: bool) -> None:
    if value:
        from semcse import __version__

        typer.echo(f"semcse {__version__}")
        raise typer.Exit()


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
          debug: bool = typer.Option(False, "--debug", help="Print the traceback behind an error message."),
          version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    if debug:
        os.environ[DEBUG_ENV] = "1"  # also seen by spawned children
    if not verbose:  # model-loading bars of transformers / hub; our own progress stays
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "openai", "urllib3", "filelock", "datasets", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
