"""Engines score task types; this module is their registry.

One engine per task type and module (:mod:`.matching`, :mod:`.clustering`, :mod:`.classification`,
:mod:`.regression`, :mod:`.proximity`, :mod:`.search`), each a subclass of
:class:`~semcse.evaluation.engines.base.Engine` that registers itself with :func:`register`.
Benchmark specs name their engine by its type (a string key); the loader
(:mod:`semcse.evaluation.loader`) and the evaluation run look it up here with :func:`engine_for`.
Neither the specs nor the data layer import this registry or an engine module, and engine modules
never import the loader. The built-in engines are imported on
the first lookup; a plugin engine registers itself before its benchmark is loaded::

    from semcse.evaluation.engines import register
    from semcse.evaluation.engines.base import Engine

    @register
    class MyEngine(Engine):
        type = "my-task"
        ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from semcse.evaluation.errors import BenchmarkError

if TYPE_CHECKING:
    from semcse.evaluation.engines.base import Engine

BUILTIN = ("matching", "clustering", "classification", "regression", "proximity", "search")

_REGISTRY: dict[str, type["Engine"]] = {}
_builtins_loaded = False


def register(engine: type["Engine"]) -> type["Engine"]:
    """Class decorator: make ``engine`` the scorer of tasks of type ``engine.type``."""
    name = getattr(engine, "type", "")
    if not name:
        raise ValueError(f"{engine.__name__} has no task type (set the class attribute `type`)")
    known = _REGISTRY.get(name)
    if known is not None and known is not engine:
        raise ValueError(f"task type {name!r} is already scored by {known.__module__}.{known.__name__}")
    _REGISTRY[name] = engine
    return engine


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        for module in BUILTIN:
            importlib.import_module(f"{__name__}.{module}")
        _builtins_loaded = True


def engine_for(task_type: str) -> type["Engine"]:
    """The engine class scoring a task type; :class:`BenchmarkError` names the known types otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[task_type]
    except KeyError:
        raise BenchmarkError(f"unknown task type {task_type!r}; types are {sorted(_REGISTRY)}") from None


def engine_types() -> list[str]:
    """Every registered task type."""
    _load_builtins()
    return sorted(_REGISTRY)
