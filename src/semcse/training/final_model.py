"""Which model a training run hands over: the base, a checkpoint or a WiSE-FT interpolation.

Every candidate is compared with the base model task by task on validation (``selection.py``'s
paired bootstrap); see :data:`SELECTION_RULE`. The candidates, with the tasks that blocked them,
are logged and stored in ``selection.json`` and ``semcse_train.json``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
from semcse.config import TrainConfig
from semcse.training.checkpoints import complete_checkpoints
from semcse.training.model import load_base_model
from semcse.training.selection import interpolate_state
from semcse.training.validation import EVALUATOR_NAME, PRIMARY_METRIC, PartnerRankEvaluator, validation_only

log = logging.getLogger(__name__)

SELECTION_RULE = ("eligible = no validation task worse than the base beyond its paired bootstrap interval; "
                   "selected = the WiSE-FT interpolation of the base with the last checkpoint if it is eligible and scores "
                   "better than the base, else the eligible checkpoint (base included) with the lowest score")


def candidate(name: str, metrics: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A selection candidate from its (prefix-free) validation metrics."""
    tasks = sorted({k[: -len("_change")] for k in metrics if k.endswith("_change")})
    blocked = [t for t in tasks if metrics.get(f"{t}_blocks")]
    return {"name": name, "score": metrics.get("score"), "eligible": bool(metrics.get("eligible", 1.0)), "blocked_by": blocked,
            "changes": {t: [metrics[f"{t}_change"], metrics[f"{t}_change_low"], metrics[f"{t}_change_high"]] for t in tasks},
            "validation": metrics, **extra}


def checkpoint_candidates(history: list[dict[str, Any]], base_scores: dict[str, float]) -> list[dict[str, Any]]:
    """The base and every evaluated checkpoint, with which tasks blocked it (also logged)."""
    out = [candidate("base", base_scores)]
    for h in history:
        if PRIMARY_METRIC in h:
            c = candidate(f"checkpoint-{h['step']}", validation_only(h), step=h["step"])
            out.append(c)
            if c["blocked_by"]:
                log.info("%s not eligible: worse than the base on %s", c["name"], ", ".join(c["blocked_by"]))
    return out


def interpolated_model(cfg: TrainConfig, checkpoint: Path, alpha: float, distance) -> SentenceTransformer:
    """(1 - alpha) * base + alpha * checkpoint, as a model with the base's modules and settings."""
    model = _base_model(cfg, distance)
    trained = SentenceTransformer(str(checkpoint), device=str(model.device), trust_remote_code=cfg.trust_remote_code)
    model.load_state_dict(interpolate_state(model.state_dict(), trained.state_dict(), alpha))
    return model


def _base_model(cfg: TrainConfig, distance) -> SentenceTransformer:
    """A fresh copy of the untrained base model, scoring with ``distance``."""
    model = load_base_model(cfg.base_model, cfg.pooling, cfg.max_seq_length, cfg.trust_remote_code)
    model.similarity_fn_name = distance.similarity_fn_name
    return model


def _interpolation_candidate(cfg: TrainConfig, checkpoint: Path, alpha: float, evaluator: PartnerRankEvaluator,
                             distance) -> tuple[dict[str, Any], SentenceTransformer]:
    """The WiSE-FT interpolation of the base with ``checkpoint``, scored on validation: (candidate, model)."""
    model = interpolated_model(cfg, checkpoint, alpha, distance)
    metrics = validation_only(evaluator(model), prefix=f"{EVALUATOR_NAME}_")
    c = candidate(f"interpolation-{alpha:g}-{checkpoint.name}", metrics, alpha=alpha, checkpoint=checkpoint.name)
    log.info("%s: score %.3f, %s", c["name"], c["score"], "eligible" if c["eligible"] else f"blocked by {', '.join(c['blocked_by'])}")
    return c, model


def choose_final_model(cfg: TrainConfig, trainer: SentenceTransformerTrainer, candidates: list[dict[str, Any]],
                        evaluator: PartnerRankEvaluator, distance, base_scores: dict[str, float]):
    """(name, model, validation scores) of what the run hands over: see ``SELECTION_RULE``."""
    out, base_score = Path(cfg.out), base_scores["score"]
    best_score, best_checkpoint = trainer.state.best_metric, trainer.state.best_model_checkpoint
    if best_score is not None and math.isfinite(best_score) and best_score < base_score:
        # the trainer reloaded the best eligible checkpoint (selection_score is +inf for ineligible ones)
        selected = Path(best_checkpoint).name if best_checkpoint else f"checkpoint-{trainer.state.global_step}"
        final_model = trainer.model
        final_scores = next((validation_only(h) for h in trainer.state.log_history
                             if h.get(PRIMARY_METRIC) == best_score), {"score": best_score})
    else:
        selected, final_model, final_scores = "base", None, dict(base_scores)
    last = complete_checkpoints(out)
    if cfg.interpolation and last:
        wise, wise_model = _interpolation_candidate(cfg, last[-1], cfg.interpolation, evaluator, distance)
        candidates.append(wise)
        if wise["eligible"] and wise["score"] < base_score:
            selected, final_scores, final_model = wise["name"], wise["validation"], wise_model
    for c in candidates:
        c["selected"] = c["name"] == selected
    if final_model is None:
        log.warning("no candidate beat the untrained base model on validation without being worse on a task "
                    "(best score %s vs base %.3f); saving the base model", "none" if best_score is None else f"{best_score:.3f}",
                    base_score)
        final_model = _base_model(cfg, distance)
    else:
        log.info("selected %s: validation score %.3f (base %.3f)", selected, final_scores["score"], base_score)
    return selected, final_model, final_scores
