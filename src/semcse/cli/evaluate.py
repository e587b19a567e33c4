"""``semcse evaluate``: score models on the semantic benchmark, SciRepEval-format tasks and diagnostics."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from semcse.cli import app
from semcse.cli import fail as _fail
from semcse.config import ConfigError, EvaluateConfig, load_config_file




@app.command("evaluate")
def evaluate_cmd(
    model: list[str] = typer.Option([], "--model", "-m", help="Model path, hub id or `semcse train` output (repeatable). "
                                    "Per-model options: PATH::name=X,pooling=cls,similarity=euclidean,max_seq_length=256."),
    out: Optional[Path] = typer.Option(None, help="Output directory: results.json, results.md, map_*.png, cache/."),
    benchmark: Optional[str] = typer.Option(None, help="Benchmark TOML/JSON file (default: the packaged default)."),
    data_root: Optional[Path] = typer.Option(None, help="Root of the benchmark's relative data paths "
                                             "(default: $SEMCSE_DATA or <repo>/../shared/data)."),
    task: list[str] = typer.Option([], "--task", "-t", help="Only these tasks (names, types or groups: semantic, scirepeval; repeatable)."),
    pool_size: Optional[int] = typer.Option(None, help="Pool size for every pooled task (overrides the file)."),
    full: bool = typer.Option(False, "--full", help="Use each task's full_pool_size (up to 1,000)."),
    seed: Optional[int] = typer.Option(None, help="Seed for every task's pool / split (overrides the file)."),
    similarity: Optional[str] = typer.Option(None, help="cosine | euclidean for every model (default: each model's own)."),
    pooling: Optional[str] = typer.Option(None, help="cls | mean | ...: pooling for plain Hugging Face encoders."),
    max_seq_length: Optional[int] = typer.Option(None, help="Truncate inputs to this many tokens (default: a known model's, "
                                                 "else 512 or the model's maximum if smaller)."),
    batch_size: int = typer.Option(32, help="Encoding batch size."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1, mps (default: cuda/mps when available, else cpu)."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code", help="Allow a hub model's own code (only for models you trust)."),
    perf_reference: str = typer.Option(EvaluateConfig.perf_reference, help="Reference of the paper table's Perf.: tfidf "
                                       "(a TF-IDF system scored here on the same pools) | paper (the paper's anchors, fitted "
                                       "by us on its pools) | none."),
    paper_table: bool = typer.Option(False, "--paper-table", help="Add the SemCSE paper's own rows (their pools, for "
                                     "orientation) to the paper table."),
    cache_dir: Optional[Path] = typer.Option(None, help="Embedding cache directory (default: OUT/cache)."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="Cache embeddings per (model, text set) on disk."),
    queries: Optional[Path] = typer.Option(None, help="A `semcse summarize --task queries` run directory for the "
                                           "query-generated task."),
    diagnostics: bool = typer.Option(True, "--diagnostics/--no-diagnostics", help="Alignment, uniformity, anisotropy, norms."),
    plots: bool = typer.Option(True, "--plots/--no-plots", help="2-D maps of labelled pools (PNG)."),
    projection: str = typer.Option("tsne", help="tsne | umap (umap needs the umap extra)."),
    mteb: list[str] = typer.Option([], "--mteb", help="Also run these MTEB tasks via the mteb package (repeatable; needs network)."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file with an [evaluate] section (CLI options win)."),
    progress: bool = typer.Option(True, "--progress/--quiet", help="Show encoding progress."),
) -> None:
    """Evaluate one or more models side by side on identical pools; write JSON, Markdown and PNG maps."""
    from semcse.encode import EncoderError
    from semcse.evaluation import BenchmarkError, evaluate

    try:
        base = EvaluateConfig()
        if config is not None:
            section = load_config_file(config).get("evaluate", {})
            base = EvaluateConfig.from_dict(section)
        given = {
            "models": tuple(model) or base.models, "out": str(out) if out else base.out,
            "benchmark": benchmark or base.benchmark, "data_root": str(data_root) if data_root else base.data_root,
            "tasks": tuple(task) or base.tasks, "pool_size": pool_size if pool_size is not None else base.pool_size,
            "full": full or base.full, "seed": seed if seed is not None else base.seed,
            "similarity": similarity or base.similarity, "pooling": pooling or base.pooling,
            "max_seq_length": max_seq_length or base.max_seq_length,
            "batch_size": batch_size if batch_size != 32 else base.batch_size, "device": device or base.device,
            "trust_remote_code": trust_remote_code or base.trust_remote_code,
            "perf_reference": perf_reference if perf_reference != EvaluateConfig.perf_reference else base.perf_reference,
            "paper_table": paper_table or base.paper_table,
            "cache_dir": str(cache_dir) if cache_dir else base.cache_dir, "cache": cache and base.cache,
            "queries": str(queries) if queries else base.queries, "diagnostics": diagnostics and base.diagnostics,
            "plots": plots and base.plots, "projection": projection if projection != "tsne" else base.projection,
            "mteb": tuple(mteb) or base.mteb, "progress": progress and base.progress,
        }
        if given["similarity"] not in (None, "cosine", "euclidean"):
            _fail(f"--similarity must be cosine or euclidean, got {given['similarity']!r}")
        if given["perf_reference"] not in ("tfidf", "paper", "none"):
            _fail(f"--perf-reference must be tfidf, paper or none, got {given['perf_reference']!r}")
        if given["projection"] not in ("tsne", "umap"):
            _fail(f"--projection must be tsne or umap, got {given['projection']!r}")
        cfg = base.replace(**given)
        report = evaluate(cfg)
    except (ConfigError, BenchmarkError, EncoderError) as exc:
        _fail(str(exc))
        return
    md = Path(report.files["markdown"]).read_text(encoding="utf-8")
    sections = md.split("\n## ")
    typer.echo(sections[0].split("\n\n", 2)[-1].strip())
    for section in sections[1:]:  # the paper table and the SciRepEval table too
        if section.startswith(("Paper table", "SciRepEval")):
            typer.echo("\n## " + section.strip())
    typer.echo(f"\nwrote {report.files['json']}, {report.files['markdown']}"
               + (f" and {len(report.plots)} map(s)" if report.plots else ""))
