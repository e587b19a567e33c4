"""``semcse summarize``: generate summaries (or queries), plus import / export / merge / batch files."""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path
from typing import Optional

import typer

from semcse.cli.common import PROGRESS_FLAGS, app, config_option, corpus_options
from semcse.cli.common import fail as _fail
from semcse.config import ConfigError, CorpusConfig, SamplingConfig, SummarizeConfig

summarize_app = typer.Typer(no_args_is_help=False, help="LLM summaries of a corpus into a resumable run directory.")
app.add_typer(summarize_app, name="summarize")
_summarize, _sampling = (partial(config_option, c) for c in (SummarizeConfig, SamplingConfig))


@summarize_app.callback(invoke_without_command=True)
@corpus_options()
def summarize_cmd(
    ctx: typer.Context,
    corpus_options: dict,
    out: Optional[Path] = _summarize("out", default=None),
    task: str = _summarize("task"),
    prompts: Optional[Path] = _summarize("prompts"),
    samples: Optional[int] = _summarize("samples"),
    max_prompts: Optional[int] = _summarize("max_prompts"),
    temperature: float = _sampling("temperature"),
    top_p: float = _sampling("top_p"),
    top_k: int = _sampling("top_k"),
    max_tokens: int = _sampling("max_tokens"),
    repeat_penalty: float = _sampling("repeat_penalty"),
    seed: int = _sampling("seed"),
    backend: str = _summarize("backend"),
    model: Optional[str] = _summarize("model"),
    n_ctx: Optional[int] = _summarize("n_ctx"),
    n_threads: Optional[int] = _summarize("n_threads"),
    n_gpu_layers: int = _summarize("n_gpu_layers"),
    parallel: int = _summarize("parallel"),
    schedule: str = _summarize("schedule"),
    kv_unified: bool = _summarize("kv_unified"),
    n_batch: int = _summarize("n_batch"),
    flash_attn: bool = _summarize("flash_attn"),
    quantization: str = _summarize("quantization"),
    base_url: list[str] = _summarize("base_urls", "--base-url"),
    server_model: Optional[str] = _summarize("server_model"),
    api_key_env: str = _summarize("api_key_env"),
    concurrency: int = _summarize("concurrency"),
    request_timeout: float = _summarize("request_timeout"),
    max_retries: int = _summarize("max_retries"),
    shard: Optional[str] = _summarize("shard"),
    limit: Optional[int] = _summarize("limit"),
    min_words: Optional[int] = _summarize("min_words"),
    progress: bool = _summarize("progress", *PROGRESS_FLAGS),
    retry_failed: bool = _summarize("retry_failed"),
) -> None:
    """Generate K prompts x C samples per paper; resumable (rerun continues), shardable."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        _fail("--out is required")
    if not corpus_options["source"]:
        _fail("--corpus is required")
    from semcse.corpus import CorpusError
    from semcse.summaries import summarize
    from semcse.summaries.backends.base import BackendError
    from semcse.summaries.prompts import PromptError
    from semcse.summaries.store import StoreError

    try:
        options = locals()
        cfg = SummarizeConfig.from_options(
            options, corpus=CorpusConfig.from_options(corpus_options),  # its --limit counts after sharding
            sampling=SamplingConfig.from_options(options), base_urls=tuple(base_url))
        result = summarize(cfg)
    except (ConfigError, CorpusError, PromptError, BackendError, StoreError) as exc:
        _fail(str(exc))
    s = result.stats
    for line in _report_lines(s):
        typer.echo(line, err=True)
    typer.echo(f"stats: {result.stats_path}", err=True)
    if not result.ok:
        typer.secho(f"error: {result.error}", fg=typer.colors.RED, err=True)
        typer.secho("Finished work is saved. Fix the cause and rerun the same command to continue.", fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(1)


def _report_lines(s: dict) -> list[str]:

    rep = s["corpus"]
    lines = [f"corpus: {rep['source']}: {rep['rows_read']} rows, {rep['papers']} papers, {rep['skipped']} skipped"]
    lines += [f"  {k}: {v}" for k, v in sorted(rep["issues_by_reason"].items())]
    lines += [f"  note: {n}" for n in rep.get("notes", [])]  # e.g. the fields it detected
    run = s["this_run"]
    if run["generated"] == 0:
        if not s.get("error"):  # after a failure, "nothing to generate" would be false
            lines.append(f"nothing to generate: all {s['expected_records']} records of {s['papers']} papers already in the store")
    else:
        lines.append(
            f"generated {run['generated']} ({run['accepted']} accepted, {sum(run['rejected'].values())} rejected, "
            f"{sum(run.get('failed', {}).values())} failed) in {run['elapsed_s']:.1f}s: "
            f"{run['summaries_per_s']:.2f} summaries/s, {run['tokens_per_s']:.1f} tokens/s"
        )
        for reason, n in sorted(run["rejected"].items()):
            lines.append(f"  rejected {reason}: {n}")
        for cause, n in sorted(run.get("failed", {}).items()):
            lines.append(f"  failed {cause}: {n} (retried by the next run)")
        if run.get("first_failure"):
            lines.append(f"  first failure: {run['first_failure']}")
    st = s["store"]
    failed = sum(st.get("failed_by_cause", {}).values())
    lines.append(f"store: {st['accepted']} accepted / {st['records']} records of {s['expected_records']} expected "
                 f"({failed} failed, {st['missing']} missing)")
    return lines


@summarize_app.command("import")
def import_cmd(
    file: Path = typer.Argument(..., help="JSONL with one paper per line: {id, summaries: [...]}"),
    out: Path = typer.Option(..., help="Run directory to import into."),
    id_field: str = typer.Option("id"), summaries_field: str = typer.Option("summaries", help="A list of texts, or one text."),
    prompt_id: str = typer.Option("imported", help="Prompt id recorded for the imported texts."),
) -> None:
    """Import existing summaries (released summaries, human TLDRs such as SciTLDR's `target`)."""
    from semcse.summaries.store import StoreError, SummaryStore

    try:
        counts = SummaryStore(out).import_summaries(file, id_field=id_field, summaries_field=summaries_field, prompt_id=prompt_id)
    except StoreError as exc:
        _fail(str(exc))
    typer.echo(json.dumps(counts))


@summarize_app.command("export")
def export_cmd(
    run: Path = typer.Argument(..., help="Run directory."),
    to: Path = typer.Option(..., "--to", help="Output file: .jsonl or .parquet."),
    include_rejected: bool = typer.Option(False, help="Also export rejected generations."),
) -> None:
    """Export a run's records to JSONL or Parquet."""
    from semcse.summaries.store import StoreError, SummaryStore

    try:
        n = SummaryStore(run).export(to, include_rejected=include_rejected)
    except StoreError as exc:
        _fail(str(exc))
    typer.echo(f"exported {n} records to {to}")


@summarize_app.command("merge")
def merge_cmd(
    sources: list[Path] = typer.Argument(..., help="Run directories (e.g. one per shard/machine)."),
    out: Path = typer.Option(..., help="Run directory that receives every record once."),
) -> None:
    """Merge the stores of several runs (shards) into one."""
    from semcse.summaries.store import StoreError, SummaryStore

    try:
        n = SummaryStore(out).merge(sources)
    except StoreError as exc:
        _fail(str(exc))
    typer.echo(f"merged {n} new records into {out}")


@summarize_app.command("batch-write")
@corpus_options(required=True)
def batch_write_cmd(
    corpus_options: dict,
    out: Path = typer.Option(..., help="Run directory; requests go to <out>/batch/requests-NNNN.jsonl."),
    server_model: str = typer.Option(..., help="Model name written into each request body."),
    task: str = _summarize("task"),
    prompts: Optional[Path] = _summarize("prompts"),
    samples: Optional[int] = _summarize("samples"),
    max_prompts: Optional[int] = _summarize("max_prompts"),
    shard: Optional[str] = _summarize("shard"),
    limit: Optional[int] = _summarize("limit"),
    temperature: float = _sampling("temperature"),
    top_p: float = _sampling("top_p"),
    max_tokens: int = _sampling("max_tokens"),
    seed: int = _sampling("seed"),
    max_requests_per_file: int = typer.Option(50_000, help="OpenAI's batch limit is 50,000 requests per file."),
) -> None:
    """Write the missing requests as OpenAI Batch JSONL (for `vllm run-batch` or hosted batch APIs)."""
    options = locals()
    try:
        cfg = SummarizeConfig.from_options(options, corpus=CorpusConfig.from_options(corpus_options),
                                           sampling=SamplingConfig.from_options(options), backend="openai")
    except ConfigError as exc:
        _fail(str(exc))
    from semcse.corpus import CorpusError
    from semcse.summaries.batch import write_batch_requests
    from semcse.summaries.batch import BatchError
    from semcse.summaries.prompts import PromptError

    try:
        files = write_batch_requests(cfg, max_requests_per_file=max_requests_per_file)
    except (ConfigError, CorpusError, PromptError, BatchError) as exc:
        _fail(str(exc))
    for f, n in files:
        typer.echo(f"{f}\t{n} requests")


@summarize_app.command("batch-read")
def batch_read_cmd(
    results: list[Path] = typer.Argument(..., help="Batch output JSONL file(s)."),
    out: Path = typer.Option(..., help="The run directory the requests were written from."),
) -> None:
    """Read OpenAI Batch output files back into the run's store (cleaned and filtered)."""
    from semcse.summaries.batch import BatchError, read_batch_results

    try:
        stats = read_batch_results(out, results)
    except BatchError as exc:
        _fail(str(exc))
    typer.echo(json.dumps(stats, indent=2))
    if stats.get("failed"):
        sys.exit(1)
