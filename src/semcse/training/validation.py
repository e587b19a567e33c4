"""Validation for checkpoint selection: mean rank of the partner among the validation papers.

Three matching tasks on the held-out papers (METHOD.md 5): a summary ranks all abstracts, a title
ranks all abstracts, and the first half of an abstract ranks all second halves. The score
is the geometric mean of the tasks' mean ranks (lower is better), with the model's training distance:
a task whose ranks are larger by nature (abstract halves) does not outweigh the others, and a 10%
change counts the same in every task. Validation papers without summaries (corpus papers that
were never summarised, so never trained on) serve the title and halves tasks only.

Once the base model's ranks are known, every later evaluation is compared with them per task
(:mod:`semcse.training.selection`): the primary metric ``selection_score`` is the score for an
eligible model and +inf for one that is worse than the base on any task beyond its interval.
"""

from __future__ import annotations

import logging
import time
from statistics import geometric_mean
from typing import Any, Sequence

import numpy as np

from sentence_transformers.base.evaluation import SentenceEvaluator
from semcse.sentences import split_halves
from semcse.similarity import partner_ranks
from semcse.training.papers import TrainingPaper
from semcse.training.selection import ParetoSelector, Verdict

log = logging.getLogger(__name__)

VALIDATION_TASKS = ("summary-abstract", "title-abstract", "abstract-halves")


def validation_pairs(papers: Sequence[TrainingPaper]) -> dict[str, tuple[list[str], list[str]]]:
    """(queries, partners) per task; partner i belongs to query i. Tasks with < 2 pairs are left out."""
    tasks: dict[str, tuple[list[str], list[str]]] = {
        "summary-abstract": ([p.summaries[0] for p in papers if p.summaries], [p.abstract for p in papers if p.summaries]),
        "title-abstract": ([p.title for p in papers if p.title], [p.abstract for p in papers if p.title]),
    }
    halves = [h for h in map(split_halves, (p.sentences for p in papers)) if h]
    tasks["abstract-halves"] = ([a for a, _ in halves], [b for _, b in halves])
    return {name: pair for name, pair in tasks.items() if len(pair[0]) >= 2}


class PartnerRankEvaluator(SentenceEvaluator):
    """Mean rank (1-based, lower is better), MRR and recall@1 of each query's partner in its pool.

    ``tasks`` maps a task name to (queries, partners). Returns a dict with ``{name}_{task}_mean_rank``
    etc. and the primary ``{name}_mean_rank``: the geometric mean over tasks of their mean ranks.
    """

    def __init__(self, tasks: dict[str, tuple[list[str], list[str]]], distance: Any, name: str = "validation",
                 batch_size: int = 64, selector: ParetoSelector | None = None):
        super().__init__()
        if not tasks:
            raise ValueError("no validation task has at least 2 pairs")
        self.tasks = tasks
        self.distance = distance
        self.name = name
        self.batch_size = batch_size
        self.selector = selector or ParetoSelector()
        self.base_ranks: dict[str, np.ndarray] | None = None  # set after the base model's evaluation
        self.last_ranks: dict[str, np.ndarray] = {}
        self.last_verdict: Verdict | None = None
        self.greater_is_better = False
        self.primary_metric = "selection_score"

    @property
    def pool_sizes(self) -> dict[str, int]:
        return {task: len(q) for task, (q, _) in self.tasks.items()}

    def __call__(self, model, output_path: str | None = None, epoch: int = -1, steps: int = -1) -> dict[str, float]:
        start = time.perf_counter()
        texts = sorted({t for q, c in self.tasks.values() for t in (*q, *c)}, key=len)
        vectors = model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False)
        index = {t: i for i, t in enumerate(texts)}
        metrics: dict[str, float] = {}
        task_means = []
        self.last_ranks = {}
        for task, (queries, partners) in self.tasks.items():
            q = vectors[[index[t] for t in queries]]
            c = vectors[[index[t] for t in partners]]
            ranks = partner_ranks(q, c, self.distance).astype(np.float64)
            broken = ~np.isfinite(q).all(axis=1) | ~np.isfinite(c).all(axis=1)
            ranks[broken] = len(partners)  # NaN/inf embeddings rank last, never first
            metrics[f"{task}_mean_rank"] = float(ranks.mean())
            metrics[f"{task}_mrr"] = float((1.0 / ranks).mean())
            metrics[f"{task}_recall@1"] = float((ranks == 1).mean())
            task_means.append(float(ranks.mean()))
            self.last_ranks[task] = ranks
        metrics["mean_rank"] = geometric_mean(task_means)
        metrics["score"] = self.selector.score(self.last_ranks)
        metrics["eligible"] = 1.0
        self.last_verdict = None
        if self.base_ranks is not None:
            verdict = self.last_verdict = self.selector.compare(self.base_ranks, self.last_ranks)
            metrics["eligible"] = float(verdict.eligible)
            for task, change in verdict.changes.items():
                metrics[f"{task}_change"], metrics[f"{task}_change_low"], metrics[f"{task}_change_high"] = change.change, change.low, change.high
                metrics[f"{task}_blocks"] = float(change.blocks)  # the selector's verdict, read by the trainer as is
        # what checkpoint selection minimises: the score, or +inf for a candidate worse than the base on a task
        metrics["selection_score"] = metrics["score"] if metrics["eligible"] else float("inf")
        log.info("validation (step %s): score %.3f (geometric mean of %s; %s) in %.1fs%s", steps, metrics["score"],
                 "+".join(self.selector.voting_tasks(self.last_ranks)),
                 ", ".join(f"{t} {metrics[f'{t}_mean_rank']:.2f}/{n}" for t, n in self.pool_sizes.items()),
                 time.perf_counter() - start, f"; {self.last_verdict.describe()}" if self.last_verdict else "")
        metrics = self.prefix_name_to_metrics(metrics, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    def get_config_dict(self) -> dict[str, Any]:
        return {"distance": self.distance.name, "pool_sizes": self.pool_sizes, "selection": "pareto-safe",
                "confidence": self.selector.confidence, "min_vote_pool": self.selector.min_vote_pool}

    def save_base_ranks(self, path) -> None:
        np.savez(path, **self.last_ranks)

    def load_base_ranks(self, path) -> None:
        with np.load(path) as f:
            self.base_ranks = {k: f[k] for k in f.files}


# ---- metric names in the trainer's logs ----------------------------------------------------------

EVALUATOR_NAME = "validation"
PRIMARY_METRIC = f"eval_{EVALUATOR_NAME}_selection_score"  # +inf for a checkpoint worse than the base on a task
SCORE_METRIC = f"eval_{EVALUATOR_NAME}_score"


def validation_only(metrics: dict[str, Any], prefix: str = f"eval_{EVALUATOR_NAME}_") -> dict[str, float]:
    """The validation metrics without their prefix (the trainer's ``eval_validation_``, or the evaluator's own)."""
    return {k[len(prefix):]: float(v) for k, v in metrics.items() if k.startswith(prefix)}
