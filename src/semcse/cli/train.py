"""``semcse train``: SemCSE contrastive training (a thin layer over :func:`semcse.training.train`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer

from semcse.cli import app
from semcse.cli import fail as _fail
from semcse.config import ConfigError, CorpusConfig, TrainConfig

_D = TrainConfig()


@app.command("train")
def train_cmd(
    corpus: Optional[str] = typer.Option(None, help="Corpus: JSONL/CSV/TSV/Parquet file, datasets directory or hub dataset id."),
    summaries: list[str] = typer.Option([], help="Summary store run directory or {id, summaries} JSONL file (repeatable)."),
    base_model: Optional[str] = typer.Option(None, help="Encoder to train: hub id or local path (any Hugging Face encoder); default all-MiniLM-L6-v2."),
    out: Optional[Path] = typer.Option(None, help="Output directory: the trained model, its metrics and curve (checkpoints while training)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Corpus format if the suffix does not tell."),
    split: Optional[str] = typer.Option(None, help="Split of a datasets directory / hub dataset."),
    id_field: Optional[str] = typer.Option(None, help="Corpus paper id field (default: auto)."),
    title_field: Optional[str] = typer.Option(None, help="Corpus title field (default: auto)."),
    abstract_field: Optional[str] = typer.Option(None, help="Corpus abstract field: a string or a list of sentences."),
    title_from_first_sentence: bool = typer.Option(False, help="Use the abstract's first sentence as the title."),
    max_abstract_chars: int = typer.Option(CorpusConfig.max_abstract_chars, help="Longer abstracts are truncated."),
    limit: Optional[int] = typer.Option(None, help="Only the first N papers of the corpus."),
    summaries_id_field: Optional[str] = typer.Option(None, help="Id field of summary JSONL files (default: id, paper_id, ...)."),
    summaries_field: Optional[str] = typer.Option(None, help="Summaries field of JSONL files (default: summaries, target, ...)."),
    pooling: str = typer.Option(_D.pooling, help="auto (the base model's own, else CLS) | cls | mean."),
    max_seq_length: int = typer.Option(_D.max_seq_length, help="Maximum tokens per text."),
    trust_remote_code: bool = typer.Option(False, help="Allow the base model's own code from the hub."),
    p_summary: float = typer.Option(_D.p_summary, help="Share of positives that are another summary of the paper."),
    p_title: float = typer.Option(_D.p_title, help="Share of positives that are the paper's title."),
    p_sentence: float = typer.Option(_D.p_sentence, help="Share of positives that are a sentence/span of the abstract."),
    p_abstract: float = typer.Option(_D.p_abstract, help="Share of positives that are the paper's whole abstract "
                                     "(for summary and title anchors); 0 = only when a paper has nothing else."),
    max_span_sentences: int = typer.Option(_D.max_span_sentences, help="Longest abstract span used as a positive."),
    sentence_splitter: str = typer.Option(_D.sentence_splitter, help="rules (fast, compiled rules) | pysbd: splits abstracts "
                                          "into sentences (bench/sentence_splitters.py compares them)."),
    negatives: str = typer.Option(_D.negatives, help="same-kind (one negative of the positive's kind) | batch-all (also all in-batch texts)."),
    hard_negatives: float = typer.Option(_D.hard_negatives, help="Share of triplets whose negative comes from one of the "
                                         "anchor paper's nearest papers (mined once with the base model); 0 = off."),
    hard_negative_candidates: int = typer.Option(_D.hard_negative_candidates, help="Nearest papers mined per paper."),
    hard_negative_margin: float = typer.Option(_D.hard_negative_margin, help="Drop a mined paper as a likely false negative "
                                               "when the paper's query is within this relative margin of its own abstract."),
    anchors_per_paper: Optional[int] = typer.Option(None, help="Summaries used as anchors per paper and epoch (default: all)."),
    filter_summaries: Optional[int] = typer.Option(None, help="Round-trip filtering: train only on summaries whose own "
                                                   "abstract the base model ranks in this top k of the training abstracts."),
    title_anchors: bool = typer.Option(_D.title_anchors, help="Titles are anchors too (positive: a summary, an abstract span or, with --p-abstract, the abstract)."),
    span_anchors: int = typer.Option(_D.span_anchors, help="Abstract spans per paper and epoch used as anchors too (positive: "
                                     "a summary, the title or a span of the other half of the abstract); 0 = off."),
    validation_papers: float = typer.Option(_D.validation_papers, help="Held-out papers: a fraction (<1) or a count."),
    max_validation_papers: int = typer.Option(_D.max_validation_papers, help="Cap on each validation pool (papers)."),
    validation_fill: bool = typer.Option(_D.validation_fill, help="Top up the title-abstract and abstract-halves validation "
                                         "pools with corpus papers that have no summaries (never trained on)."),
    seed: int = typer.Option(_D.seed, help="Seed of the split, the examples and the trainer."),
    selection_confidence: float = typer.Option(_D.selection_confidence, help="Level of the per-task bootstrap interval: "
                                               "a candidate worse than the base on a task beyond it is never selected."),
    min_vote_pool: int = typer.Option(_D.min_vote_pool, help="Validation pools smaller than this block but do not vote."),
    interpolation: Optional[float] = typer.Option(_D.interpolation, help="WiSE-FT weight a of the last checkpoint in the "
                                                  "handed-over model (1-a)*base + a*trained, if eligible; 0 = off."),
    loss: str = typer.Option(_D.loss, help="triplet (Euclidean margin + L2) | infonce (cosine multiple negatives)."),
    similarity: Optional[str] = typer.Option(None, help="euclidean | cosine (default: euclidean for triplet, cosine for infonce)."),
    margin: float = typer.Option(_D.margin, help="Triplet margin."),
    l2_weight: float = typer.Option(_D.l2_weight, help="Lambda of the L2 regularisation of the embeddings."),
    scale: float = typer.Option(_D.scale, help="InfoNCE scale (1 / temperature)."),
    base_anchor: float = typer.Option(_D.base_anchor, help="Weight of a penalty on each text's squared distance from its "
                                      "embedding by the frozen base model (forget less of what the base knew); 0 = off."),
    cached_mini_batch: Optional[int] = typer.Option(None, help="GradCache: embed each batch N texts at a time, so large "
                                                    "batches (with --negatives batch-all) fit in memory; same gradients."),
    epochs: float = typer.Option(_D.epochs), max_steps: Optional[int] = typer.Option(None, help="Overrides --epochs."),
    batch_size: int = typer.Option(_D.batch_size, help="Triplets per device and step."),
    gradient_accumulation_steps: int = typer.Option(_D.gradient_accumulation_steps),
    learning_rate: float = typer.Option(_D.learning_rate), warmup_ratio: float = typer.Option(_D.warmup_ratio),
    weight_decay: float = typer.Option(_D.weight_decay),
    precision: str = typer.Option(_D.precision, help="auto (bf16/fp16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16."),
    group_by_kind: bool = typer.Option(_D.group_by_kind, help="Batches of one positive kind and similar length (faster)."),
    eval_steps: Optional[int] = typer.Option(None, help="Validate (and checkpoint) every N steps (default: 10 times per run)."),
    logging_steps: int = typer.Option(_D.logging_steps), save_total_limit: int = typer.Option(_D.save_total_limit),
    keep_checkpoints: bool = typer.Option(_D.keep_checkpoints, help="Keep <out>/checkpoints and <out>/prepared after a finished "
                                          "run (by default they are removed: only a resume needs them)."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its last checkpoint."),
    overwrite: bool = typer.Option(False, help="Discard an earlier run's checkpoints in --out."),
    dataloader_workers: int = typer.Option(_D.dataloader_workers),
    progress: bool = typer.Option(True, help="Show progress."),
) -> None:
    """Train an encoder with SemCSE on a corpus and its summaries; keeps the best checkpoint (or the base model)."""
    if not corpus:
        _fail("--corpus is required")
    if not summaries:
        _fail("--summaries is required (a summary store run directory or a JSONL file)")
    if not base_model:  # as `semcse run`: the offline all-MiniLM-L6-v2 where its package is installed
        from semcse.pipeline import default_base_model

        base_model = default_base_model()
        typer.echo(f"base model: {base_model} (the default; choose another with --base-model)", err=True)
    if out is None:
        _fail("--out is required")
    from semcse.corpus import CorpusError
    from semcse.training import TrainingDataError, train
    from semcse.training.model import ModelLoadError

    try:
        options = locals()
        cfg = TrainConfig.from_options(options, corpus=CorpusConfig.from_options(options, source=corpus, format=fmt),
                                       interpolation=interpolation or None)
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
