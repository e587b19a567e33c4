"""``semcse evaluate``: score models on the semantic benchmark, SciRepEval-format tasks and diagnostics."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from semcse.cli import app
from semcse.cli import command_line_options
from semcse.cli import fail as _fail
from semcse.config import ConfigError, EvaluateConfig, load_config_file

_D = EvaluateConfig()


@app.command("evaluate")
def evaluate_cmd(
    ctx: typer.Context,
    model: list[str] = typer.Option([], "--model", "-m", help="Model path, hub id or `semcse train` output (repeatable). "
                                    "Per-model options: PATH::name=X,pooling=cls,similarity=euclidean,max_seq_length=256."),
    out: Optional[Path] = typer.Option(None, help="Output directory: results.json, results.md, map_*.png, cache/."),
    benchmark: Optional[str] = typer.Option(None, help="Benchmark TOML/JSON file (default: the packaged default)."),
    data_root: Optional[Path] = typer.Option(None, help="Root of the benchmark's relative data paths "
                                             "(default: $SEMCSE_DATA or <repo>/../shared/data)."),
    task: list[str] = typer.Option([], "--task", "-t", help="Only these tasks (names, types or groups: semantic, scirepeval; repeatable)."),
    pool_size: Optional[int] = typer.Option(None, help="Pool size for every pooled task (overrides the file)."),
    full: bool = typer.Option(_D.full, "--full", help="Use each task's full_pool_size (up to 1,000)."),
    seed: Optional[int] = typer.Option(None, help="Seed for every task's pool / split (overrides the file)."),
    similarity: Optional[str] = typer.Option(None, help="cosine | euclidean for every model (default: each model's own)."),
    pooling: Optional[str] = typer.Option(None, help="cls | mean | ...: pooling for plain Hugging Face encoders."),
    max_seq_length: Optional[int] = typer.Option(None, help="Truncate inputs to this many tokens (default: a known model's, "
                                                 "else 512 or the model's maximum if smaller)."),
    batch_size: int = typer.Option(_D.batch_size, help="Encoding batch size."),
    device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:1, mps (default: cuda/mps when available, else cpu)."),
    trust_remote_code: bool = typer.Option(_D.trust_remote_code, "--trust-remote-code", help="Allow a hub model's own code (only for models you trust)."),
    perf_reference: str = typer.Option(_D.perf_reference, help="Reference of the paper table's Perf.: tfidf "
                                       "(a TF-IDF system scored here on the same pools) | paper (the paper's anchors, fitted "
                                       "by us on its pools) | none."),
    paper_table: bool = typer.Option(_D.paper_table, "--paper-table", help="Add the SemCSE paper's own rows (their pools, for "
                                     "orientation) to the paper table."),
    cache_dir: Optional[Path] = typer.Option(None, help="Embedding cache directory (default: OUT/cache)."),
    cache: bool = typer.Option(_D.cache, "--cache/--no-cache", help="Cache embeddings per (model, text set) on disk."),
    queries: Optional[Path] = typer.Option(None, help="A `semcse summarize --task queries` run directory for the "
                                           "query-generated task."),
    diagnostics: bool = typer.Option(_D.diagnostics, "--diagnostics/--no-diagnostics", help="Alignment, uniformity, anisotropy, norms."),
    plots: bool = typer.Option(_D.plots, "--plots/--no-plots", help="2-D maps of labelled pools (PNG)."),
    projection: str = typer.Option(_D.projection, help="tsne | umap (umap needs the umap extra)."),
    mteb: list[str] = typer.Option([], "--mteb", help="Also run these MTEB tasks via the mteb package (repeatable; needs network)."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file with an [evaluate] section (CLI options win)."),
    progress: bool = typer.Option(_D.progress, "--progress/--quiet", help="Show encoding progress."),
) -> None:
    """Evaluate one or more models side by side on identical pools; write JSON, Markdown and PNG maps."""
    from semcse.encode import EncoderError
    from semcse.evaluation import BenchmarkError, evaluate

    try:
        base = EvaluateConfig.from_dict(load_config_file(config).get("evaluate", {})) if config is not None else _D
        given = command_line_options(ctx, locals())  # they win over the config file
        cfg = base.with_options(given, **{field: tuple(given[name]) for name, field in (("model", "models"), ("task", "tasks"))
                                          if name in given})
        for name, value, allowed in (("similarity", cfg.similarity, (None, "cosine", "euclidean")),
                                     ("perf-reference", cfg.perf_reference, ("tfidf", "paper", "none")),
                                     ("projection", cfg.projection, ("tsne", "umap"))):
            if value not in allowed:
                _fail(f"--{name} must be one of {', '.join(a for a in allowed if a)}; got {value!r}")
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
