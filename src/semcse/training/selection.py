"""Pareto-safe model selection: a candidate may not be worse than the base on any validation task.

For every validation task the candidate's per-query partner ranks are compared with the base
model's on the same queries: the relative change of the mean rank, with a paired bootstrap
interval over the queries. A candidate (checkpoint or weight interpolation) is **eligible** only
if no task is worse beyond its interval (the interval's lower end above 0); among eligible
candidates, the lowest **score** wins: the geometric mean of the mean ranks of the tasks that
vote. A task with fewer than ``min_vote_pool`` queries neither votes nor blocks on its own (its
interval is wide and a few of its queries move it: an 80-paper pool must not stop a run that the
large pools call better); it is still reported. When no task has that many queries, every task
votes and blocks. The base model is always eligible, so selection never returns a model that the
voting tasks show to be worse.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from statistics import geometric_mean

import numpy as np

from semcse.bootstrap import SAMPLES, paired_change_interval


@dataclass
class TaskChange:
    """One task, candidate vs base: mean ranks, relative change and its interval (negative = better)."""

    task: str
    pool: int
    base_mean_rank: float
    mean_rank: float
    change: float
    low: float
    high: float
    votes: bool
    blocks: bool


@dataclass
class Verdict:
    """What :meth:`ParetoSelector.compare` decided about one candidate."""

    eligible: bool
    score: float  # geometric mean of the voting tasks' mean ranks (lower is better)
    blocked_by: list[str] = field(default_factory=list)
    changes: dict[str, TaskChange] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"eligible": self.eligible, "score": self.score, "blocked_by": self.blocked_by,
                "changes": {k: asdict(v) for k, v in self.changes.items()}}

    def describe(self) -> str:
        parts = [f"{c.task} {100 * c.change:+.1f}% [{100 * c.low:+.1f}%, {100 * c.high:+.1f}%]" for c in self.changes.values()]
        head = "eligible" if self.eligible else f"blocked by {', '.join(self.blocked_by)}"
        return f"{head}; vs base: " + "; ".join(parts)


@dataclass
class ParetoSelector:
    """Compares a candidate's per-task ranks with the base's; see the module docstring.

    ``confidence``: two-sided level of the bootstrap interval (0.9: a task blocks when it is worse
    with one-sided 95% confidence). ``min_vote_pool``: smallest pool whose task counts in the score and
    may block (when no task has that many queries, all tasks vote and block).
    """

    confidence: float = 0.9
    samples: int = SAMPLES
    min_vote_pool: int = 200
    seed: int = 0

    def voting_tasks(self, ranks: dict[str, np.ndarray]) -> list[str]:
        voting = [t for t, r in ranks.items() if len(r) >= self.min_vote_pool]
        return voting or list(ranks)

    def score(self, ranks: dict[str, np.ndarray]) -> float:
        """Geometric mean over the voting tasks of their mean ranks."""
        return geometric_mean(float(np.mean(ranks[t])) for t in self.voting_tasks(ranks))

    def compare(self, base: dict[str, np.ndarray], cand: dict[str, np.ndarray]) -> Verdict:
        voting = set(self.voting_tasks(base))
        changes = {}
        for task, base_ranks in base.items():
            if task not in cand:
                continue
            change, low, high = paired_change_interval(base_ranks, cand[task], self.confidence, self.samples, self.seed)
            changes[task] = TaskChange(task, len(base_ranks), float(np.mean(base_ranks)), float(np.mean(cand[task])),
                                       change, low, high, votes=task in voting, blocks=low > 0 and task in voting)
        blocked = [t for t, c in changes.items() if c.blocks]
        return Verdict(not blocked, self.score({t: cand[t] for t in changes}), blocked, changes)


def interpolate_state(base: dict, trained: dict, alpha: float) -> dict:
    """WiSE-FT weights: (1 - alpha) * base + alpha * trained for every floating tensor."""
    out = {}
    for key, value in trained.items():
        ref = base.get(key)
        if ref is not None and value.is_floating_point() and ref.shape == value.shape:
            out[key] = ((1.0 - alpha) * ref.to(value.dtype) + alpha * value).to(value.dtype)
        else:
            out[key] = value
    return out
