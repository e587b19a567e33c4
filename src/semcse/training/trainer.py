"""``semcse train``: SemCSE contrastive training on sentence-transformers' trainer.

Flow: corpus + summaries -> papers split by paper -> one block of fresh triplets per epoch ->
SemCSE loss -> SentenceTransformerTrainer (AdamW, warm-up, accumulation, bf16/fp16, DDP under
torchrun / accelerate) with validation every N steps and checkpoints -> the best checkpoint, or
the untrained base model when no checkpoint beats it on validation -> ``<out>`` (loads with
``SentenceTransformer(out)``), plus ``semcse_train.json``, ``training_curve.png`` and a model card.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from semcse.config import ConfigError, TrainConfig
from semcse.fileio import atomic_write_json
from semcse.similarity import get_distance
from semcse.sentences import SPLITTERS
from semcse.training.checkpoints import (
    BASE_FILE, BASE_RANKS_FILE, CHECKPOINTS, CONFIG_FILE, RESULT_FILE, SELECTION_FILE, complete_checkpoints, prepare_out_dir,
    remove_training_state,
)
from semcse.training.data import TrainingData, load_summaries, prepare_data  # noqa: F401  (re-exported)
from semcse.training.examples import KINDS, ExampleBuilder, mix_report
from semcse.training.lazy_set import TripletTexts
from semcse.training.papers import TrainingDataError
from semcse.training.hard_negatives import NEIGHBOURS, REMINED, HardNegativeRemining, mine_hard_negatives
from semcse.progress import format_duration
from semcse.training.health import HealthMonitor
from semcse.training.losses import BaseAnchorLoss, CachedSemCSELoss, SemCSEInfoNCELoss, SemCSETripletLoss
from semcse.training.model import (freeze_lower_layers, is_sentence_transformer, load_base_model, pooling_mode,
                                   restore_processing, set_pad_to_multiple_of)
from semcse.training.sampler import EpochBlockBatchSampler, LayoutRef
from semcse.training.topics import cluster_papers, topics_name
from semcse.training.prepared import cached_array
from semcse.training.selection import ParetoSelector
from semcse.training.summary_filter import SUMMARY_FILTER, round_trip_filter
from semcse.training.final_model import SELECTION_RULE, checkpoint_candidates, choose_final_model
from semcse.training.model_card import display_name
from semcse.training.run_report import peak_memory, write_run_outputs
from semcse.training.validation import EVALUATOR_NAME, PRIMARY_METRIC, PartnerRankEvaluator, validation_only, validation_pairs

log = logging.getLogger(__name__)

GPU_PAD_MULTIPLE = 16  # token widths on GPU are rounded up to this (see model.set_pad_to_multiple_of)
# ---- loss, trainer ------------------------------------------------------------------------------

def similarity_name(cfg: TrainConfig) -> str:
    return cfg.similarity or ("euclidean" if cfg.loss == "triplet" else "cosine")


def resolve_objective(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with ``--loss auto`` resolved by the base model's kind: ``gist`` for a base that is already a
    sentence embedder (a sentence-transformers model: an in-batch softmax keeps the objective it was
    trained with), ``triplet`` for a raw encoder (SciDeBERTa, SciBERT: the paper's objective)."""
    if cfg.loss != "auto":
        return cfg
    from semcse.encode import EncoderError, resolve_model_path

    try:
        name = resolve_model_path(cfg.base_model)
    except EncoderError:
        name = cfg.base_model  # loading reports the real problem
    chosen = "gist" if is_sentence_transformer(name) else "triplet"
    log.info("--loss auto: %s (the base model %s a sentence embedder)", chosen, "is" if chosen == "gist" else "is not")
    return cfg.replace(loss=chosen)


def make_loss(cfg: TrainConfig, model: SentenceTransformer, guide: SentenceTransformer | None = None) -> torch.nn.Module:
    """The configured SemCSE loss with its distance object (``guide``: the frozen guide of ``gist``)."""
    distance = get_distance(similarity_name(cfg))
    in_batch = cfg.negatives == "batch-all"
    if cfg.loss == "gist":
        from sentence_transformers.sentence_transformer.losses import CachedGISTEmbedLoss, GISTEmbedLoss

        if guide is None:
            raise ConfigError("--loss gist needs a guide model")
        if cfg.cached_mini_batch:
            return CachedGISTEmbedLoss(model, guide, temperature=1.0 / cfg.scale, mini_batch_size=cfg.cached_mini_batch)
        return GISTEmbedLoss(model, guide, temperature=1.0 / cfg.scale)
    if cfg.loss == "triplet":
        loss = SemCSETripletLoss(model, distance, margin=cfg.margin, l2_weight=cfg.l2_weight, in_batch_negatives=in_batch)
    elif cfg.loss == "infonce":
        loss = SemCSEInfoNCELoss(model, distance, scale=cfg.scale, in_batch_negatives=in_batch, l2_weight=cfg.l2_weight)
    else:
        raise ConfigError(f"unknown loss {cfg.loss!r}; use triplet, infonce, gist or auto")
    if cfg.base_anchor:
        return BaseAnchorLoss(loss, cfg.base_anchor)
    return CachedSemCSELoss(loss, cfg.cached_mini_batch) if cfg.cached_mini_batch else loss


def loss_description(cfg: TrainConfig, loss: torch.nn.Module) -> dict[str, Any]:
    """The loss's name and settings for the metrics and the model card (a guide model by its name, not its repr)."""
    settings = {k: (cfg.guide_model or "the base model (frozen copy)") if k == "guide" else v
                for k, v in loss.get_config_dict().items()}
    return settings | {"name": type(loss).__name__}


def guide_model(cfg: TrainConfig, model: SentenceTransformer) -> SentenceTransformer | None:
    """The frozen guide of ``--loss gist``: ``--guide-model`` loaded like a base model, else a copy of the
    base model taken before training (None for the other losses)."""
    if cfg.loss != "gist":
        return None
    if cfg.guide_model:
        guide = load_base_model(cfg.guide_model, "auto", cfg.max_seq_length, cfg.trust_remote_code, device=str(model.device))
    else:
        guide = copy.deepcopy(model)
    guide.requires_grad_(False)
    return guide.eval()


class SemCSETrainer(SentenceTransformerTrainer):
    """SentenceTransformerTrainer that adds SemCSE's health statistics to every training log."""

    def __init__(self, *args: Any, health: HealthMonitor | None = None, show_progress: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.remove_callback(PrinterCallback)  # our progress line (below) replaces the raw log dicts
        self.health = health or HealthMonitor()
        self.show_progress = show_progress
        self._last_log = (time.perf_counter(), 0)

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        # sentence-transformers' _save assumes it runs on the main process only, but transformers 5 calls
        # it on every rank: without this guard all DDP ranks write the same checkpoint files at once.
        if not self.args.should_save:
            return
        super()._save(output_dir, state_dict)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        training = "loss" in logs
        if training and hasattr(self.loss, "health"):
            logs = {**logs, **{k: round(v, 5) for k, v in self.loss.health.pop().items()}}
        super().log(logs, start_time)
        if not training:
            return
        record = self.state.log_history[-1] if self.state.log_history else logs
        step = self.state.global_step
        self.health.check({k: float(v) for k, v in record.items() if isinstance(v, (int, float))}, step)
        if self.health.saw_nan:
            self.control.should_training_stop = True
        if self.show_progress and self.is_world_process_zero():
            now = time.perf_counter()
            t0, s0 = self._last_log
            rate = (step - s0) * self.args.train_batch_size * self.args.gradient_accumulation_steps * self.args.world_size / max(now - t0, 1e-9)
            self._last_log = (now, step)
            eta = (self.state.max_steps - step) * (now - t0) / max(step - s0, 1)
            parts = [f"step {step}/{self.state.max_steps}", f"loss {record.get('loss', float('nan')):.4f}"]
            parts += [f"{k} {record[k]:.4f}" for k in ("d_ap", "d_an", "violating", "norm") if k in record]
            log.info("%s  %.1f ex/s  ETA %s", "  ".join(parts), rate, format_duration(eta))


class _StepTimer(TrainerCallback):
    """Wall time spent in training steps only (no evaluation, no checkpoint saving)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.steps = 0
        self._t: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._t = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._t is not None:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.seconds += time.perf_counter() - self._t
            self.steps += 1
            self._t = None


def precision_arguments(cfg: TrainConfig) -> dict[str, bool]:
    """The ``bf16``/``fp16`` training arguments for ``cfg.precision`` (``auto``: bf16 where the GPU has it)."""
    if cfg.precision == "fp32":
        return {"bf16": False, "fp16": False}
    if cfg.precision in ("bf16", "fp16"):
        if not torch.cuda.is_available() and cfg.precision == "fp16":
            raise ConfigError("fp16 needs a GPU; use --precision bf16 or fp32 on CPU")
        return {"bf16": cfg.precision == "bf16", "fp16": cfg.precision == "fp16"}
    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        return {"bf16": bf16, "fp16": not bf16}
    return {"bf16": False, "fp16": False}


def _base_model_result(cfg: TrainConfig, data: TrainingData, name: str, options: dict[str, Any], compute):
    """``compute()`` (an array and its report, from the base model), kept beside the prepared data under
    the base model's settings and ``options``: reruns and resumes reuse it; the local rank 0 computes it
    and the other ranks read the same copy."""
    if data.directory is None:
        array, report = compute()
        return array, report.to_dict()
    key = {"base_model": cfg.base_model, "pooling": cfg.pooling, "max_seq_length": cfg.max_seq_length, **options}
    return cached_array(data.directory, name, key, compute, wait=int(os.environ.get("LOCAL_RANK", "0")) != 0)


def _filter_summaries(cfg: TrainConfig, data: TrainingData, model: SentenceTransformer) -> dict[str, Any] | None:
    """Round-trip filtering (``cfg.filter_summaries`` = top k): train only on the summaries whose own
    abstract the base model finds among the k nearest training abstracts; returns the filter report."""
    if not cfg.filter_summaries:
        return None
    keep, report = _base_model_result(cfg, data, SUMMARY_FILTER, {"top_k": cfg.filter_summaries}, lambda: round_trip_filter(
        model, data.train_papers, cfg.filter_summaries, batch_size=max(cfg.batch_size, 32), progress=cfg.progress))
    data.builder.use_summaries(keep)
    log.info("round-trip filtering: kept %d of %d summaries whose own abstract is in the base model's top %d "
             "(median own rank %.0f); %d papers lost every summary", report["kept"], report["summaries"], report["top_k"],
             report["own_rank_median"], report["papers_without_summaries"])
    if data.builder.anchors_per_epoch() == 0:
        raise TrainingDataError(f"round-trip filtering kept no summary (top {cfg.filter_summaries}); "
                                "raise --filter-summaries or turn it off")
    return report


def _base_topics(cfg: TrainConfig, data: TrainingData, model: SentenceTransformer,
                 papers_per_topic: int) -> tuple[np.ndarray, dict[str, Any]]:
    """Each training paper's topic, clustered with the base model into topics of about ``papers_per_topic``
    papers (once per data and options, kept beside the prepared data), and the clustering report."""
    options = {"papers_per_topic": papers_per_topic, "seed": cfg.seed}
    return _base_model_result(cfg, data, topics_name(papers_per_topic), options, lambda: cluster_papers(
        model, data.train_papers, papers_per_topic, seed=cfg.seed, batch_size=max(cfg.batch_size, 32),
        progress=cfg.progress))


def _use_hard_negatives(cfg: TrainConfig, data: TrainingData,
                        model: SentenceTransformer) -> tuple[dict[str, Any] | None, np.ndarray | None]:
    """Mine each training paper's nearest papers with the base model (once per data and mining options,
    kept beside the prepared data) and hand them to the example builder; returns the mining report and,
    with the topic guard, the topics it mined with."""
    if cfg.hard_negatives <= 0:
        return None, None
    topics = guard = None
    if cfg.hard_negative_topics:
        topics, guard = _base_topics(cfg, data, model, cfg.hard_negative_topics)
    options = {"candidates": cfg.hard_negative_candidates, "margin": cfg.hard_negative_margin,
               **({"topic_guard": cfg.hard_negative_topics, "seed": cfg.seed} if topics is not None else {})}
    neighbours, report = _base_model_result(cfg, data, NEIGHBOURS, options, lambda: mine_hard_negatives(
        model, data.train_papers, cfg.hard_negative_candidates, cfg.hard_negative_margin,
        batch_size=max(cfg.batch_size, 32), progress=cfg.progress, topics=topics))
    data.builder.use_neighbours(neighbours, cfg.hard_negatives)
    log.info("hard negatives: %.1f candidate papers kept per paper (%d dropped by the %.2f margin, %d papers without any)",
             report["kept_per_paper"], report["dropped_by_margin"], report["relative_margin"], report["papers_without_candidates"])
    if guard is not None:
        report = {**report, "topic_guard": guard}
        log.info("hard negatives: topic guard over %d topics left out %.0f%% of the nearest papers (same topic)",
                 guard["topics"], 100 * report["same_topic_skipped"])
    return report, topics


def _use_topics(cfg: TrainConfig, data: TrainingData, model: SentenceTransformer) -> dict[str, Any] | None:
    """Topic batches: cluster the training papers with the base model and hand the topics to the example
    builder; returns the clustering report."""
    if not cfg.topic_batches:
        return None
    topics, report = _base_topics(cfg, data, model, cfg.topic_batches)
    data.builder.use_topics(topics)
    log.info("topic batches: %d training papers in %d topics (%d to %d papers, median %.0f)", report["papers"],
             report["topics"], report["smallest"], report["largest"], report["median"])
    return report


def _hard_negative_remining(cfg: TrainConfig, data: TrainingData,
                            topics: np.ndarray | None = None) -> HardNegativeRemining | None:
    """With ``cfg.hard_negative_remine`` (checked to come with ``cfg.hard_negatives``): the callback that mines
    the hard negatives again at every later epoch."""
    if not cfg.hard_negative_remine:
        return None
    return HardNegativeRemining(data.builder, cfg.hard_negative_candidates, cfg.hard_negative_margin,
                                Path(cfg.out) / CHECKPOINTS / REMINED,
                                key={"seed": cfg.seed, "candidates": cfg.hard_negative_candidates,
                                     "margin": cfg.hard_negative_margin,
                                     **({"topic_guard": cfg.hard_negative_topics} if topics is not None else {})},
                                batch_size=max(cfg.batch_size, 32), progress=cfg.progress, topics=topics)


def build_train_dataset(builder: ExampleBuilder, blocks: int):
    """The training set: ``blocks`` epochs of triplets as a ``datasets.Dataset`` of row numbers whose texts
    are drawn on access (memory grows with papers, not triplets); also the first block's positive mix."""
    from datasets import Dataset

    block_size = builder.anchors_per_epoch()
    rows = Dataset.from_dict({"row": np.arange(blocks * block_size, dtype=np.int64)})
    plan = builder.plan(0)
    mix = mix_report(plan.kind, builder.mix)
    anchor_kind, _ = plan.anchor_columns()
    mix["anchors"] = {KINDS[k]: int(c) for k, c in enumerate(np.bincount(anchor_kind, minlength=3)[:3])}
    if plan.hard is not None:
        mix["hard_negatives"] = round(float(plan.hard.mean()), 4)
    return rows.with_transform(TripletTexts(builder, block_size)), mix


def plan_steps(cfg: TrainConfig, examples_per_epoch: int, world_size: int) -> tuple[int, int, int]:
    """(optimizer steps in total, steps per epoch, epoch blocks to draw)."""
    batches = math.ceil(examples_per_epoch / cfg.batch_size)
    if world_size > 1:
        batches = examples_per_epoch // cfg.batch_size // world_size
    steps_per_epoch = max(1, batches // cfg.gradient_accumulation_steps)
    total = cfg.max_steps if cfg.max_steps else max(1, math.ceil(cfg.epochs * steps_per_epoch))
    blocks = max(1, math.ceil(total / steps_per_epoch))
    return total, steps_per_epoch, blocks


def training_arguments(cfg: TrainConfig, total_steps: int, block_size: int, layout: ExampleBuilder | None = None,
                       **overrides: Any) -> SentenceTransformerTrainingArguments:
    """sentence-transformers training arguments for a SemCSE run (``layout``: the builder behind a lazy training set)."""
    eval_steps = cfg.eval_steps or max(1, total_steps // 10)
    distributed_cpu = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
    kwargs: dict[str, Any] = dict(
        output_dir=str(Path(cfg.out) / CHECKPOINTS),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.learning_rate,
        warmup_steps=cfg.warmup_ratio if cfg.warmup_ratio < 1 else int(cfg.warmup_ratio),
        weight_decay=cfg.weight_decay,
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="steps",
        save_steps=eval_steps,
        save_total_limit=cfg.save_total_limit,
        load_best_model_at_end=True,
        metric_for_best_model=PRIMARY_METRIC,
        greater_is_better=False,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        logging_nan_inf_filter=False,
        report_to="none",
        seed=cfg.seed,
        disable_tqdm=not (cfg.progress and sys.stderr.isatty()),
        dataloader_pin_memory=torch.cuda.is_available(),
        dataloader_num_workers=cfg.dataloader_workers,
        batch_sampler=functools.partial(EpochBlockBatchSampler, block_size=block_size, group_by_kind=cfg.group_by_kind,
                                        layout=LayoutRef(layout) if layout is not None else None),
        ddp_backend="gloo" if distributed_cpu else None,
        use_cpu=distributed_cpu,  # accelerate runs several CPU processes (gloo) only when told so
        **precision_arguments(cfg),
    )
    kwargs.update(overrides)
    return SentenceTransformerTrainingArguments(**kwargs)


# ---- results ------------------------------------------------------------------------------------

@dataclass
class TrainResult:
    """What a training run produced and chose."""

    out: Path
    selected: str  # "base" or the checkpoint name
    base_validation: dict[str, float]
    final_validation: dict[str, float]
    best_checkpoint_validation: float | None
    steps: int
    examples_per_second: float | None
    warnings: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def improved(self) -> bool:
        return self.selected != "base"


# ---- the run ------------------------------------------------------------------------------------

def _check_config(cfg: TrainConfig) -> None:
    """What a training run needs beyond a valid config: the ranges of the options and the rules between
    them are the config's own (:meth:`TrainConfig.validate`, again here for a config changed in place)."""
    cfg.validate()
    if not cfg.out:
        raise ConfigError("--out is required")
    if not cfg.base_model:
        raise ConfigError("--base-model is required (a hub id or a local path)")
    if not cfg.corpus.source:
        raise ConfigError("--corpus is required")
    get_distance(similarity_name(cfg))
    if cfg.sentence_splitter not in SPLITTERS:
        raise ConfigError(f"unknown sentence splitter {cfg.sentence_splitter!r}; use {' or '.join(SPLITTERS)}")


def _finished_result(out: Path) -> TrainResult:
    data = json.loads((out / RESULT_FILE).read_text())
    return TrainResult(out=out, selected=data["selected"], base_validation=data["validation"]["base"],
                       final_validation=data["validation"]["final"], best_checkpoint_validation=data["validation"].get("best_checkpoint"),
                       steps=data["steps"], examples_per_second=data.get("examples_per_second"),
                       warnings=data.get("health_warnings", []), metrics=data)


def _open_run_dir(cfg: TrainConfig, args) -> Path | None:
    """The output directory checked against --resume / --overwrite (by the main process; the config is
    saved there); returns the checkpoint to resume from, the same on every rank."""
    out = Path(cfg.out)
    resume_from: Path | None = None
    with args.main_process_first(local=False, desc="output directory"):
        if args.process_index == 0:
            out.mkdir(parents=True, exist_ok=True)
            resume_from = prepare_out_dir(cfg)
            atomic_write_json(out / CONFIG_FILE, cfg.to_dict())
    if args.process_index != 0:
        found = complete_checkpoints(out) if cfg.resume else []
        resume_from = found[-1] if found else None
    return resume_from


def _validate_base(trainer: SentenceTransformerTrainer, evaluator: PartnerRankEvaluator, out: Path, resuming: bool,
                   main: bool) -> dict[str, float]:
    """The untrained base model's validation scores and per-query ranks (kept in ``out``, read back on
    resume); every rank then compares candidates with the same base ranks."""
    base_path, ranks_path = out / BASE_FILE, out / BASE_RANKS_FILE
    if resuming and base_path.exists() and ranks_path.exists():
        base_scores = json.loads(base_path.read_text())
    else:
        log.info("validating the untrained base model (a candidate in checkpoint selection)")
        base_scores = validation_only(trainer.evaluate())
        if main:
            atomic_write_json(base_path, base_scores)
            evaluator.save_base_ranks(ranks_path)
    trainer.accelerator.wait_for_everyone()
    evaluator.load_base_ranks(ranks_path)
    return base_scores


def _hand_over(cfg: TrainConfig, trainer: SemCSETrainer, processing, base_scores: dict[str, float],
               candidates: list[dict[str, Any]], run: dict[str, Any]) -> TrainResult:
    """Main process, after training: choose and save the model the run hands over, then its metrics,
    ``selection.json``, curve and card. The evaluator (with its distance and selector), the loss and
    the health monitor are the trainer's."""
    out = Path(cfg.out)
    evaluator, loss = trainer.evaluator, trainer.loss
    distance, selector = evaluator.distance, evaluator.selector
    restore_processing(trainer.model, processing)
    selected, final_model, final_scores = choose_final_model(cfg, trainer, candidates, evaluator, distance, base_scores)
    atomic_write_json(out / SELECTION_FILE, {"selected": selected, "rule": SELECTION_RULE, "candidates": candidates})
    final_model.save(str(out))
    best_score = trainer.state.best_metric
    metrics = {
        "status": "complete",
        "selected": selected,
        "base_model": cfg.base_model,
        "pooling": pooling_mode(final_model),
        "similarity": distance.similarity_fn_name,
        "loss": loss_description(cfg, loss),
        "validation": {"base": base_scores, "final": final_scores, "best_checkpoint": best_score,
                       "pool_sizes": evaluator.pool_sizes, "voting_tasks": selector.voting_tasks(evaluator.base_ranks or {}),
                       "confidence": cfg.selection_confidence},
        "selection": {"rule": SELECTION_RULE, "candidates": candidates},
        "steps": trainer.state.global_step,
        **run,
        "health_warnings": trainer.health.warnings,
        "config": cfg.to_dict(),
        "log_history": trainer.state.log_history,
    }
    write_run_outputs(out, metrics)
    if not cfg.keep_checkpoints:
        freed = remove_training_state(out)
        log.info("removed the checkpoints and prepared data (%.0f MB) from %s; --keep-checkpoints keeps them", freed / 1e6, out)
    return TrainResult(out=out, selected=selected, base_validation=base_scores, final_validation=final_scores,
                       best_checkpoint_validation=best_score, steps=trainer.state.global_step,
                       examples_per_second=run["examples_per_second"], warnings=list(trainer.health.warnings), metrics=metrics)


def train(cfg: TrainConfig) -> TrainResult:
    """Train a SemCSE model as ``cfg`` says; returns what was selected and the validation scores.

    Never returns a model that scores worse on validation than the untrained base model: the base
    is a candidate in checkpoint selection.
    """
    _check_config(cfg)
    cfg = resolve_objective(cfg)  # --loss auto: by the base model's kind (replace() validates the result)
    out = Path(cfg.out)
    if cfg.resume and (out / RESULT_FILE).exists() and json.loads((out / RESULT_FILE).read_text()).get("status") == "complete":
        log.info("%s: training already complete; nothing to resume", out)
        return _finished_result(out)
    started = time.time()
    data = prepare_data(cfg)
    for line in data.report.lines():
        log.info("%s", line)
    local_gpu = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if torch.cuda.is_available() else None
    model = load_base_model(cfg.base_model, cfg.pooling, cfg.max_seq_length, cfg.trust_remote_code, device=local_gpu)
    if cfg.freeze_layers:
        counts = freeze_lower_layers(model, cfg.freeze_layers)
        log.info("freezing the input embeddings and the first %d layers: %.1fM parameters train, %.1fM frozen",
                 cfg.freeze_layers, counts["trainable"] / 1e6, counts["frozen"] / 1e6)
    filtering = _filter_summaries(cfg, data, model)  # changes the triplets per epoch: before the step plan
    mining, guard_topics = _use_hard_negatives(cfg, data, model)
    topics = _use_topics(cfg, data, model)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    examples_per_epoch = data.builder.anchors_per_epoch()
    total_steps, steps_per_epoch, blocks = plan_steps(cfg, examples_per_epoch, world)
    args = training_arguments(cfg, total_steps, examples_per_epoch, layout=data.builder)
    main = args.process_index == 0
    if not main:  # one log for the run, from the main process
        logging.getLogger("semcse").setLevel(logging.WARNING)
    resume_from = _open_run_dir(cfg, args)

    train_dataset, mix = build_train_dataset(data.builder, blocks)
    log.info("positive mix (epoch 0): %s (requested %s); anchors %s%s; %d triplets per epoch, %d epoch block(s), %d steps",
             mix["realised"], mix["requested"], mix["anchors"],
             f"; {mix['hard_negatives']:.0%} of negatives from mined nearest papers" if "hard_negatives" in mix else "",
             examples_per_epoch, blocks, total_steps)

    distance = get_distance(similarity_name(cfg))
    model.similarity_fn_name = distance.similarity_fn_name
    model.model_card_data.model_name = f"SemCSE model trained from {display_name(cfg.base_model)}"
    model.model_card_data.train_datasets = [{"name": display_name(cfg.corpus.source)}]
    model.model_card_data.add_tags(["semcse", "scientific-documents"])
    selector = ParetoSelector(confidence=cfg.selection_confidence, min_vote_pool=cfg.min_vote_pool, seed=cfg.seed)
    evaluator = PartnerRankEvaluator(validation_pairs(data.validation_papers), distance, name=EVALUATOR_NAME,
                                     batch_size=max(cfg.batch_size, 32), selector=selector)
    processing = set_pad_to_multiple_of(model, GPU_PAD_MULTIPLE if torch.cuda.is_available() else None)
    loss = make_loss(cfg, model, guide_model(cfg, model))
    monitor = HealthMonitor(margin=cfg.margin if cfg.loss == "triplet" else None, distance=distance.name)
    timer = _StepTimer()
    remining = _hard_negative_remining(cfg, data, guard_topics)  # after mining: it starts from the base model's neighbours
    trainer = SemCSETrainer(model=model, args=args, train_dataset=train_dataset, loss=loss, evaluator=evaluator,
                            callbacks=[timer] + ([remining] if remining else []), health=monitor, show_progress=cfg.progress)

    base_scores = _validate_base(trainer, evaluator, out, resume_from is not None, main)

    output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    candidates = checkpoint_candidates(trainer.state.log_history, base_scores)
    examples_per_second = (timer.steps * cfg.batch_size * cfg.gradient_accumulation_steps * args.world_size / timer.seconds
                           if timer.seconds > 0 else None)

    result = None
    if main:
        result = _hand_over(cfg, trainer, processing, base_scores, candidates, run={
                                "steps_per_epoch": steps_per_epoch, "examples_per_epoch": examples_per_epoch,
                                "examples_per_second": examples_per_second, "train_runtime_s": output.metrics.get("train_runtime"),
                                "wall_time_s": time.time() - started, "memory": peak_memory(), "world_size": args.world_size,
                                "data": data.report.to_dict(), "corpus": data.corpus_report, "positive_mix": mix,
                                "hard_negatives": mining and {**mining, "remined": list(remining.reports.values()) if remining else None},
                                "summary_filter": filtering, "topics": topics})
    trainer.accelerator.wait_for_everyone()
    if result is None:  # other ranks: read what the main process wrote
        result = _finished_result(out)
    return result
