"""What every engine shares: the :class:`Engine` interface, the model-independent :class:`Prepared`
task and seeded pool sampling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    from semcse.evaluation.data import DataContext, DataFile
    from semcse.evaluation.specs import TaskSpec

PER_QUERY = "_per_query"  # per-query values of the score's metric (in memory only: paired comparisons)


@dataclass
class Prepared:
    """A task made concrete, independent of any model: the text lists to encode and what scoring needs.

    ``texts`` maps a role (``queries``, ``candidates``, ``texts``, ``docs``...) to the texts to
    encode; ``data`` holds targets, labels or relevance (``data["metric"]`` and
    ``data["higher_is_better"]`` override the engine's main metric and its direction);
    ``pool_size`` is the number of candidates / items.
    """

    spec: "TaskSpec"
    texts: dict[str, list[str]]
    data: dict[str, Any]
    pool_size: int
    files: list["DataFile"]
    info: dict[str, Any] = field(default_factory=dict)


class Engine:
    """Scores one task type. Subclasses set the class attributes, implement prepare/score and are
    registered with :func:`semcse.evaluation.engines.register`."""

    type: str = ""
    group: str = ""  # "semantic" | "scirepeval"
    format: str = ""  # SciRepEval's task format (CLF, RGN, PRX, SRCH); "" for other tasks
    POOLED: bool = False  # uses pool_size / full_pool_size
    OPTIONS: dict[str, Any] = {}
    metric: str = ""
    higher_is_better: bool = True

    @classmethod
    def validate(cls, spec: "TaskSpec", where: str) -> None:
        """Check option values at load time (raise :class:`~semcse.evaluation.errors.BenchmarkError`)."""

    @classmethod
    def prepare(cls, spec: "TaskSpec", ctx: "DataContext", pool_size: int | None) -> Prepared:
        raise NotImplementedError

    @classmethod
    def score(cls, prepared: Prepared, embeddings: dict[str, Any], distance) -> dict[str, Any]:
        raise NotImplementedError

    @staticmethod
    def where(spec: "TaskSpec", ctx: "DataContext") -> str:
        """The prefix of every message about this task: the benchmark file and the task name."""
        return f"{ctx.benchmark.source}: task {spec.name!r}"


def sample_pool(items: Sequence[Any], size: int | None, seed: int, make: Callable[[Any], Any]) -> list[Any]:
    """A seeded pool of up to ``size`` usable items, in input order, computing ``make(item)`` only as needed.

    Items are visited in the order of one seeded permutation; ``make`` returns the pooled value or
    ``None`` for an unusable item; the first ``size`` usable ones form the pool. So the pool depends
    only on the data and the seed (never on a model), and with the same seed a smaller pool is a
    subset of a larger one. ``size=None`` pools every usable item.
    """
    import numpy as np

    order = range(len(items)) if size is None else np.random.default_rng(seed).permutation(len(items))
    chosen: list[tuple[int, Any]] = []
    for i in order:
        value = make(items[int(i)])
        if value is not None:
            chosen.append((int(i), value))
            if size is not None and len(chosen) >= size:
                break
    return [v for _, v in sorted(chosen, key=lambda x: x[0])]
