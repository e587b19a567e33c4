"""``semcse run``: the whole pipeline in one command (or one config file)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from semcse.cli import app
from semcse.cli import fail as _fail


def _budget_help() -> str:
    from semcse.pipeline import BUDGETS

    def one(name: str, b: dict) -> str:
        papers = f"{b['papers']:,} papers" if b["papers"] else "every paper"
        steps = f"{b['steps']:,} steps" if b["steps"] else "one epoch"
        return (f"{name}: {papers} x {b['prompts']} prompts x {b['samples']} samples, {steps} of {b['batch_size']}, "
                f"pools of {b['pool_size']:,}")

    return ("; ".join(one(n, b) for n, b in BUDGETS.items()) +
            ". Default small (a laptop, minutes); paper is the paper's setting. Options given here override the budget.")


@app.command("run")
def run_cmd(
    corpus: Optional[str] = typer.Option(None, help="Corpus file or dataset (title + abstract; labels used when present)."),
    out: Optional[Path] = typer.Option(None, help="Run directory (rerun the same command to continue)."),
    config: Optional[Path] = typer.Option(None, help="A TOML run config (e.g. a previous run's config.toml); options given here override it."),
    budget: Optional[str] = typer.Option(None, help=_budget_help()),
    papers: Optional[int] = typer.Option(None, help="Training papers that get LLM summaries."),
    prompts: Optional[int] = typer.Option(None, help="Prompts per paper (K)."),
    samples: Optional[int] = typer.Option(None, help="Samples per prompt (C)."),
    max_tokens: Optional[int] = typer.Option(None, help="Token limit per summary."),
    steps: Optional[int] = typer.Option(None, help="Training steps."),
    batch_size: Optional[int] = typer.Option(None), max_seq_length: Optional[int] = typer.Option(None),
    heldout_papers: Optional[int] = typer.Option(None, help="Papers kept out of training for evaluation."),
    pool_size: Optional[int] = typer.Option(None, help="Evaluation pool size."),
    benchmark_task: Optional[list[str]] = typer.Option(None, help="Default-benchmark task to run (repeatable; 'none' skips it)."),
    base_model: Optional[str] = typer.Option(None, help="Encoder to train (default: offline all-MiniLM-L6-v2)."),
    llm: Optional[str] = typer.Option(None, help="GGUF for the embedded summarizer (default: SmolLM2-135M)."),
    base_url: Optional[list[str]] = typer.Option(None, help="Use an OpenAI-compatible server for summaries (repeatable)."),
    server_model: Optional[str] = typer.Option(None), seed: Optional[int] = typer.Option(None),
    id_field: Optional[str] = typer.Option(None), title_field: Optional[str] = typer.Option(None),
    abstract_field: Optional[str] = typer.Option(None), label_field: Optional[str] = typer.Option(None),
    title_from_first_sentence: Optional[bool] = typer.Option(None, "--title-from-first-sentence"),
) -> None:
    """Summaries -> training -> evaluation of base vs trained -> report, resumable at every stage."""
    from semcse.config import ConfigError, RunConfig
    from semcse.corpus import CorpusError
    from semcse.encode import EncoderError
    from semcse.evaluation.tasks import BenchmarkError
    from semcse.pipeline import read_config, run
    from semcse.training.examples import TrainingDataError
    from semcse.training.model import ModelLoadError

    try:
        cfg = read_config(config) if config else RunConfig()
        corpus_changes = {k: v for k, v in dict(source=corpus, id_field=id_field, title_field=title_field, abstract_field=abstract_field,
                                                 label_field=label_field, title_from_first_sentence=title_from_first_sentence).items() if v is not None}
        changes = {k: v for k, v in dict(out=str(out) if out else None, budget=budget, papers=papers, prompts=prompts, samples=samples,
                                         max_tokens=max_tokens, steps=steps, batch_size=batch_size, max_seq_length=max_seq_length,
                                         heldout_papers=heldout_papers, pool_size=pool_size, base_model=base_model, seed=seed).items()
                   if v is not None}
        if benchmark_task:
            changes["benchmark_tasks"] = () if benchmark_task == ["none"] else tuple(benchmark_task)
        summarize = cfg.summarize
        if llm:
            summarize = summarize.replace(model=llm, backend="llamacpp")
        if base_url:
            summarize = summarize.replace(backend="openai", base_urls=tuple(base_url), server_model=server_model)
        cfg = cfg.replace(corpus=cfg.corpus.replace(**corpus_changes), summarize=summarize, **changes)
        result = run(cfg)
    except (ConfigError, CorpusError, TrainingDataError, ModelLoadError, EncoderError, BenchmarkError) as exc:  # bad input: exit 2
        _fail(str(exc))
    except RuntimeError as exc:  # the job failed: exit 1
        _fail(str(exc), code=1)
    typer.echo((result.out / "report.md").read_text(encoding="utf-8"))
    typer.echo(f"report: {result.out / 'report.md'} and report.json", err=True)
