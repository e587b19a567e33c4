"""``semcse summarize``: generate summaries (or queries), plus import / export / merge / batch files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from semcse.cli import app
from semcse.cli import fail as _fail
from semcse.config import ConfigError, CorpusConfig, SamplingConfig, SummarizeConfig

summarize_app = typer.Typer(no_args_is_help=False, help="LLM summaries of a corpus into a resumable run directory.")
app.add_typer(summarize_app, name="summarize")
_D = SummarizeConfig()


@summarize_app.callback(invoke_without_command=True)
def summarize_cmd(
    ctx: typer.Context,
    corpus: Optional[str] = typer.Option(None, help="JSONL/CSV/TSV/Parquet file, datasets directory or hub dataset id."),
    out: Optional[Path] = typer.Option(None, help="Run directory (created; rerun to resume)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="Corpus format if the suffix does not tell."),
    split: Optional[str] = typer.Option(None, help="Split of a datasets directory / hub dataset."),
    id_field: Optional[str] = typer.Option(None, help="Paper id field (default: auto; none -> row numbers)."),
    title_field: Optional[str] = typer.Option(None, help="Title field (default: auto)."),
    abstract_field: Optional[str] = typer.Option(None, help="Abstract field: a string or a list of sentences."),
    label_field: Optional[str] = typer.Option(None, help="Label field (kept for evaluation)."),
    title_from_first_sentence: bool = typer.Option(False, help="Use the abstract's first sentence as the title."),
    max_abstract_chars: int = typer.Option(CorpusConfig.max_abstract_chars, help="Longer abstracts are truncated and reported."),
    task: str = typer.Option(_D.task, help="summaries | queries"),
    prompts: Optional[Path] = typer.Option(None, help="Prompt set TOML (default: the packaged set for --task)."),
    samples: Optional[int] = typer.Option(None, help="Samples per prompt (default: the prompt file's, 3)."),
    max_prompts: Optional[int] = typer.Option(None, help="Use only the first K prompts."),
    temperature: float = typer.Option(_D.sampling.temperature), top_p: float = typer.Option(_D.sampling.top_p),
    top_k: int = typer.Option(_D.sampling.top_k, help="0 = off."), max_tokens: int = typer.Option(_D.sampling.max_tokens),
    repeat_penalty: float = typer.Option(_D.sampling.repeat_penalty), seed: int = typer.Option(_D.sampling.seed),
    backend: str = typer.Option(_D.backend, help="llamacpp (embedded) | openai (any OpenAI-compatible server)."),
    model: Optional[str] = typer.Option(None, help="GGUF path for llamacpp (default: SmolLM2-135M-Instruct)."),
    n_ctx: Optional[int] = typer.Option(None, help="llama.cpp context size (default: sized to the corpus)."),
    n_threads: Optional[int] = typer.Option(None), n_gpu_layers: int = typer.Option(_D.n_gpu_layers),
    base_url: list[str] = typer.Option([], help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (repeatable)."),
    server_model: Optional[str] = typer.Option(None, help="Model name on the server (default: its first)."),
    api_key_env: str = typer.Option(_D.api_key_env, help="Environment variable holding the API key."),
    concurrency: int = typer.Option(_D.concurrency, help="Requests in flight (all base URLs together)."),
    request_timeout: float = typer.Option(_D.request_timeout), max_retries: int = typer.Option(_D.max_retries),
    shard: Optional[str] = typer.Option(None, help="I/N: this machine's share of the corpus (0-based I)."),
    limit: Optional[int] = typer.Option(None, help="Only the first N papers (after sharding)."),
    min_words: Optional[int] = typer.Option(None, help="Reject outputs shorter than this (default: prompt file)."),
    progress: bool = typer.Option(True, help="Show progress."),
    retry_failed: bool = typer.Option(_D.retry_failed, help="Regenerate records that failed (request errors, context overflow, cut by "
                                      "the token limit); with --no-retry-failed only those a changed setting may fix."),
) -> None:
    """Generate K prompts x C samples per paper; resumable (rerun continues), shardable."""
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        _fail("--out is required")
    if not corpus:
        _fail("--corpus is required")
    from semcse.corpus import CorpusError
    from semcse.summaries import summarize
    from semcse.summaries.backends.base import BackendError
    from semcse.summaries.prompts import PromptError
    from semcse.summaries.store import StoreError

    try:
        options = locals()
        cfg = SummarizeConfig.from_options(
            options, corpus=CorpusConfig.from_options(options, source=corpus, format=fmt, limit=None),  # --limit: after sharding
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
def batch_write_cmd(
    corpus: str = typer.Option(..., help="Corpus file or dataset."),
    out: Path = typer.Option(..., help="Run directory; requests go to <out>/batch/requests-NNNN.jsonl."),
    server_model: str = typer.Option(..., help="Model name written into each request body."),
    task: str = typer.Option(_D.task), prompts: Optional[Path] = typer.Option(None), samples: Optional[int] = typer.Option(None),
    max_prompts: Optional[int] = typer.Option(None), shard: Optional[str] = typer.Option(None), limit: Optional[int] = typer.Option(None),
    temperature: float = typer.Option(_D.sampling.temperature), top_p: float = typer.Option(_D.sampling.top_p),
    max_tokens: int = typer.Option(_D.sampling.max_tokens), seed: int = typer.Option(_D.sampling.seed),
    id_field: Optional[str] = typer.Option(None), title_field: Optional[str] = typer.Option(None), abstract_field: Optional[str] = typer.Option(None),
    max_requests_per_file: int = typer.Option(50_000, help="OpenAI's batch limit is 50,000 requests per file."),
) -> None:
    """Write the missing requests as OpenAI Batch JSONL (for `vllm run-batch` or hosted batch APIs)."""
    from semcse.summaries.batch import write_batch_requests

    options = locals()
    cfg = SummarizeConfig.from_options(options, corpus=CorpusConfig.from_options(options, source=corpus, limit=None),
                                       sampling=SamplingConfig.from_options(options), backend="openai")
    from semcse.corpus import CorpusError
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
