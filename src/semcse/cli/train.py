"""``semcse train``: SemCSE contrastive training (a thin layer over :func:`semcse.training.train`)."""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path
from typing import Optional

import typer

from semcse.cli.common import PROGRESS_FLAGS, app, config_option, corpus_options
from semcse.cli.common import fail as _fail
from semcse.config import ConfigError, CorpusConfig, TrainConfig

_train = partial(config_option, TrainConfig)


@app.command("train")
@corpus_options(limit=True)
def train_cmd(
    corpus_options: dict,
    summaries: list[str] = _train("summaries"),
    base_model: Optional[str] = _train("base_model", default=None),
    out: Optional[Path] = _train("out", default=None),
    summaries_id_field: Optional[str] = _train("summaries_id_field"),
    summaries_field: Optional[str] = _train("summaries_field"),
    pooling: str = _train("pooling"),
    max_seq_length: int = _train("max_seq_length"),
    trust_remote_code: bool = _train("trust_remote_code"),
    p_summary: float = _train("p_summary"),
    p_title: float = _train("p_title"),
    p_sentence: float = _train("p_sentence"),
    p_abstract: float = _train("p_abstract"),
    max_span_sentences: int = _train("max_span_sentences"),
    sentence_splitter: str = _train("sentence_splitter"),
    negatives: str = _train("negatives"),
    hard_negatives: float = _train("hard_negatives"),
    hard_negative_candidates: int = _train("hard_negative_candidates"),
    hard_negative_margin: float = _train("hard_negative_margin"),
    hard_negative_remine: bool = _train("hard_negative_remine"),
    hard_negative_topics: int = _train("hard_negative_topics"),
    topic_batches: int = _train("topic_batches"),
    anchors_per_paper: Optional[int] = _train("anchors_per_paper"),
    filter_summaries: Optional[int] = _train("filter_summaries"),
    unsummarised_papers: str = _train("unsummarised_papers"),
    title_anchors: bool = _train("title_anchors"),
    span_anchors: int = _train("span_anchors"),
    validation_papers: float = _train("validation_papers"),
    max_validation_papers: int = _train("max_validation_papers"),
    validation_fill: bool = _train("validation_fill"),
    seed: int = _train("seed"),
    selection_confidence: float = _train("selection_confidence"),
    min_vote_pool: int = _train("min_vote_pool"),
    interpolation: Optional[float] = _train("interpolation"),
    loss: str = _train("loss"),
    guide_model: Optional[str] = _train("guide_model"),
    similarity: Optional[str] = _train("similarity"),
    margin: float = _train("margin"),
    l2_weight: float = _train("l2_weight"),
    scale: float = _train("scale"),
    base_anchor: float = _train("base_anchor"),
    freeze_layers: int = _train("freeze_layers"),
    cached_mini_batch: Optional[int] = _train("cached_mini_batch"),
    epochs: float = _train("epochs"),
    max_steps: Optional[int] = _train("max_steps"),
    batch_size: int = _train("batch_size"),
    gradient_accumulation_steps: int = _train("gradient_accumulation_steps"),
    learning_rate: float = _train("learning_rate"),
    warmup_ratio: float = _train("warmup_ratio"),
    weight_decay: float = _train("weight_decay"),
    precision: str = _train("precision"),
    group_by_kind: bool = _train("group_by_kind"),
    eval_steps: Optional[int] = _train("eval_steps"),
    logging_steps: int = _train("logging_steps"),
    save_total_limit: int = _train("save_total_limit"),
    keep_checkpoints: bool = _train("keep_checkpoints"),
    resume: bool = _train("resume"),
    overwrite: bool = _train("overwrite"),
    dataloader_workers: int = _train("dataloader_workers"),
    progress: bool = _train("progress", *PROGRESS_FLAGS),
) -> None:
    """Train an encoder with SemCSE on a corpus and its summaries; keeps the best checkpoint (or the base model)."""
    if not corpus_options["source"]:
        _fail("--corpus is required")
    if not summaries:
        _fail("--summaries is required (a summary store run directory or a JSONL file)")
    if not base_model:  # as `semcse run`: the offline all-MiniLM-L6-v2 where its package is installed
        from semcse.pipeline import default_base_model

        base_model = default_base_model()
        typer.echo(f"base model: {base_model} (the default; choose another with --base-model)", err=True)
    if out is None:
        _fail("--out is required")
    try:  # every value is checked here, before the training modules load
        options = locals()
        cfg = TrainConfig.from_options(options, corpus=CorpusConfig.from_options(corpus_options),
                                       interpolation=interpolation or None)
    except ConfigError as exc:
        _fail(str(exc))
    from semcse.corpus import CorpusError
    from semcse.training import TrainingDataError, train
    from semcse.training.model import ModelLoadError

    try:
        result = train(cfg)
    except (ConfigError, CorpusError, TrainingDataError, ModelLoadError) as exc:
        _fail(str(exc))
    if os.environ.get("RANK", "0") != "0":  # under torchrun / accelerate launch, the main process reports
        return
    base, final = result.base_validation["score"], result.final_validation["score"]
    verdict = (f"selected {result.selected}" if result.improved
               else "no candidate beat the base model without being worse on a task: saved the base model unchanged")
    typer.echo(f"validation score (geometric mean of the tasks' mean ranks): base {base:.3f} -> final {final:.3f} ({verdict}; "
               f"candidates in {result.out / 'selection.json'})", err=True)
    for warning in result.warnings:
        typer.secho(f"health warning: {warning}", fg=typer.colors.YELLOW, err=True)
    typer.echo(json.dumps({"out": str(result.out), "selected": result.selected, "steps": result.steps,
                           "base_mean_rank": base, "final_mean_rank": final,
                           "examples_per_second": result.examples_per_second}))
