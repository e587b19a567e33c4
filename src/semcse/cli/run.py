"""``semcse run``: the whole pipeline in one command (or one config file)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Optional

import typer

from semcse.cli.common import PROGRESS_FLAGS, app, config_option, corpus_options
from semcse.cli.common import fail as _fail
from semcse.config import RunConfig, SummarizeConfig


def _budget_help() -> str:
    from semcse.pipeline import BUDGETS

    def one(name: str, b: dict) -> str:
        papers = f"{b['papers']:,} papers" if b["papers"] else "every paper"
        steps = f"{b['steps']:,} steps" if b["steps"] else "one epoch"
        return (f"{name}: {papers} x {b['prompts']} prompts x {b['samples']} samples, {steps} of {b['batch_size']}, "
                f"pools of {b['pool_size']:,}")

    return ("; ".join(one(n, b) for n, b in BUDGETS.items()) +
            ". Default small (a laptop, minutes); paper is the paper's setting. Options given here override the budget.")


# every option defaults to None: what is not given comes from the config file, else from the budget
_run, _summarize = (partial(config_option, c, default=None) for c in (RunConfig, SummarizeConfig))


@app.command("run")
@corpus_options(unset=True)
def run_cmd(
    corpus_options: dict,
    out: Optional[Path] = _run("out"),
    config: Optional[Path] = typer.Option(None, help="A TOML run config (e.g. a previous run's config.toml); options given here override it."),
    budget: Optional[str] = typer.Option(None, help=_budget_help()),
    papers: Optional[int] = _run("papers"),
    prompts: Optional[int] = _run("prompts"),
    samples: Optional[int] = _run("samples"),
    max_tokens: Optional[int] = _run("max_tokens"),
    steps: Optional[int] = _run("steps"),
    batch_size: Optional[int] = _run("batch_size"),
    max_seq_length: Optional[int] = _run("max_seq_length"),
    heldout_papers: Optional[int] = _run("heldout_papers"),
    pool_size: Optional[int] = _run("pool_size"),
    benchmark_task: Optional[list[str]] = typer.Option(None, help="Default-benchmark task to run (repeatable; 'none' skips it)."),
    base_model: Optional[str] = _run("base_model"),
    llm: Optional[str] = typer.Option(None, help="GGUF for the embedded summarizer (default: SmolLM2-135M)."),
    base_url: Optional[list[str]] = typer.Option(None, help="Use an OpenAI-compatible server for summaries (repeatable)."),
    server_model: Optional[str] = _summarize("server_model"),
    seed: Optional[int] = _run("seed"),
    progress: Optional[bool] = typer.Option(None, *PROGRESS_FLAGS, help="Show each stage's progress (default: the config's, on)."),
) -> None:
    """Summaries -> training -> evaluation of base vs trained -> report, resumable at every stage."""
    given = {k: v for k, v in locals().items() if v is not None}  # the options given: they override the config
    from semcse.config import ConfigError
    from semcse.pipeline import read_config

    try:  # every value is checked here, before any stage starts
        cfg = read_config(config) if config else RunConfig()
        corpus_changes = {k: v for k, v in corpus_options.items() if v is not None}
        if benchmark_task:
            given["benchmark_tasks"] = () if benchmark_task == ["none"] else tuple(benchmark_task)
        summarize = cfg.summarize
        if llm:
            summarize = summarize.replace(model=llm, backend="llamacpp")
        if base_url:
            summarize = summarize.replace(backend="openai", base_urls=tuple(base_url), server_model=server_model)
        stages = {"summarize": summarize, "train": cfg.train, "evaluate": cfg.evaluate}
        if progress is not None:
            stages = {name: stage.replace(progress=progress) for name, stage in stages.items()}
        cfg = cfg.with_options(given, corpus=cfg.corpus.replace(**corpus_changes), **stages)
    except ConfigError as exc:
        _fail(str(exc))
    from semcse.corpus import CorpusError
    from semcse.encode import EncoderError
    from semcse.evaluation.tasks import BenchmarkError
    from semcse.pipeline import run
    from semcse.training.papers import TrainingDataError
    from semcse.training.model import ModelLoadError

    try:
        result = run(cfg)
    except (ConfigError, CorpusError, TrainingDataError, ModelLoadError, EncoderError, BenchmarkError) as exc:  # bad input: exit 2
        _fail(str(exc))
    except RuntimeError as exc:  # the job failed: exit 1
        _fail(str(exc), code=1)
    typer.echo((result.out / "report.md").read_text(encoding="utf-8"))
    typer.echo(f"report: {result.out / 'report.md'} and report.json", err=True)
