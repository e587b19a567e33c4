"""``semcse evaluate``: score models on the semantic benchmark, SciRepEval-format tasks and diagnostics."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Optional

import typer

from semcse.cli.common import PROGRESS_FLAGS, app, command_line_options, config_option
from semcse.cli.common import fail as _fail
from semcse.config import ConfigError, EvaluateConfig, load_config_file

_evaluate = partial(config_option, EvaluateConfig)


@app.command("evaluate")
def evaluate_cmd(
    ctx: typer.Context,
    model: list[str] = _evaluate("models", "--model", "-m"),
    out: Optional[Path] = _evaluate("out", default=None),
    benchmark: Optional[str] = _evaluate("benchmark"),
    data_root: Optional[Path] = _evaluate("data_root"),
    task: list[str] = _evaluate("tasks", "--task", "-t"),
    pool_size: Optional[int] = _evaluate("pool_size"),
    full: bool = _evaluate("full", "--full"),
    seed: Optional[int] = _evaluate("seed"),
    similarity: Optional[str] = _evaluate("similarity"),
    pooling: Optional[str] = _evaluate("pooling"),
    max_seq_length: Optional[int] = _evaluate("max_seq_length"),
    batch_size: int = _evaluate("batch_size"),
    device: Optional[str] = _evaluate("device"),
    trust_remote_code: bool = _evaluate("trust_remote_code", "--trust-remote-code"),
    perf_reference: str = _evaluate("perf_reference"),
    paper_table: bool = _evaluate("paper_table", "--paper-table"),
    cache_dir: Optional[Path] = _evaluate("cache_dir"),
    cache: bool = _evaluate("cache", "--cache/--no-cache"),
    queries: Optional[Path] = _evaluate("queries"),
    diagnostics: bool = _evaluate("diagnostics", "--diagnostics/--no-diagnostics"),
    plots: bool = _evaluate("plots", "--plots/--no-plots"),
    projection: str = _evaluate("projection"),
    mteb: list[str] = _evaluate("mteb", "--mteb"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML file with an \\[evaluate] section (CLI options win)."),
    progress: bool = _evaluate("progress", *PROGRESS_FLAGS),
) -> None:
    """Evaluate one or more models side by side on identical pools; write JSON, Markdown and PNG maps."""
    try:  # every value (ranges, choices) is checked here, before any model or data loads
        given = command_line_options(ctx, locals())  # they win over the config file
        base = _file_config(config) if config is not None else EvaluateConfig()
        cfg = base.with_options(given, **{field: tuple(given[name]) for name, field in (("model", "models"), ("task", "tasks"))
                                          if name in given})
    except ConfigError as exc:
        _fail(str(exc))
    from semcse.encode import EncoderError
    from semcse.evaluation import BenchmarkError, evaluate

    try:
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


def _file_config(path: Path) -> EvaluateConfig:
    """The [evaluate] table of a config file; its errors name the file and the table."""
    data = load_config_file(path).get("evaluate", {})
    try:
        return EvaluateConfig.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: [evaluate] {exc}") from None
