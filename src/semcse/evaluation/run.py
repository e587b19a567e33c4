"""The evaluation stage: :func:`evaluate` scores models on a benchmark and writes the report.

Flow: parse the benchmark file and apply the config's overrides; prepare every task once (read
data, sample pools by seed: identical for all models); then per model (:func:`score_model`): load
it, encode each task's text lists (cached on disk per (model, text list)) and score them
(:func:`score_task`), compute diagnostics; finally summarise SciRepEval's formats and write
``results.json``, ``results.md`` and the 2-D maps (``map_<task>.png``, one panel per model).
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from semcse.bootstrap import mean_interval, paired_change_interval
from semcse.config import ConfigError, EvaluateConfig
from semcse.evaluation.data import DataContext
from semcse.evaluation.engines import engine_for
from semcse.evaluation.engines.base import PER_QUERY, Prepared
from semcse.evaluation.errors import BenchmarkError, TaskSkipped
from semcse.evaluation.loader import load_benchmark
from semcse.evaluation.specs import Benchmark

log = logging.getLogger(__name__)

INTERVAL_CONFIDENCE = 0.95  # of each score's interval and of the paired model comparisons in the report
EVALUATION_MAX_LENGTH = 512  # tokens, unless the user or the known-models table says otherwise (as SciRepEval)


@dataclass
class TaskResult:
    """One model's result on one task (``score`` is ``metrics[metric]``)."""

    task: str
    type: str
    group: str
    model: str
    similarity: str
    metric: str
    score: float
    higher_is_better: bool
    metrics: dict[str, Any]
    pool_size: int
    seed: int
    data: list[dict[str, str]]
    info: dict[str, Any] = field(default_factory=dict)
    format: str = ""  # SciRepEval's task format (CLF, RGN, PRX, SRCH); "" for other tasks
    encode_seconds: float = 0.0
    score_seconds: float = 0.0
    interval: list[float] | None = None  # 95% bootstrap interval of the score over the pool's queries
    per_query: np.ndarray | None = field(default=None, repr=False)  # the metric per query (not written)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "per_query"}


@dataclass
class EvaluationReport:
    """Everything one ``evaluate`` call measured; :mod:`semcse.evaluation.report` renders it."""

    benchmark: dict[str, Any]
    data_root: str
    models: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    results: list[TaskResult] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    diagnostics: dict[str, dict[str, Any]] = field(default_factory=dict)
    mteb: list[dict[str, Any]] = field(default_factory=list)
    comparisons: list[dict[str, Any]] = field(default_factory=list)  # every model vs the first, paired per task
    scirepeval: dict[str, Any] = field(default_factory=dict)  # per model: CLF / RGN / PRX / SRCH means and the average
    paper_table: dict[str, Any] = field(default_factory=dict)  # the SemCSE paper's layout with Perf. (paper_table.build)
    plots: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def result(self, model: str, task: str) -> TaskResult:
        for r in self.results:
            if r.model == model and r.task == task:
                return r
        raise KeyError(f"no result for model {model!r} on task {task!r}")

    def scores(self) -> dict[str, dict[str, float]]:
        """``{model: {task: score}}``."""
        out: dict[str, dict[str, float]] = {}
        for r in self.results:
            out.setdefault(r.model, {})[r.task] = r.score
        return out

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["results"] = [r.to_dict() for r in self.results]
        return d


def configure_benchmark(benchmark: Benchmark, config: EvaluateConfig) -> Benchmark:
    """Apply the config's task selection and overrides (pool size, full pools, seed, generated queries)."""
    bench = benchmark.select(config.tasks)
    chosen = set(config.tasks)
    tasks = []
    for t in bench.tasks:  # new specs: the loaded benchmark is left as it was
        if not t.enabled and not ({t.name, t.type, t.group} & chosen):
            continue
        changes: dict[str, Any] = {"seed": config.seed} if config.seed is not None else {}
        if config.queries and t.options.get("query") == "generated":
            changes["options"] = {**t.options, "queries_from": str(config.queries)}
        tasks.append(dataclasses.replace(t, **changes))
    return dataclasses.replace(bench, tasks=tasks)


def pool_size_for(spec, config: EvaluateConfig) -> int | None:
    """The pool size a task runs with: ``--pool-size``, else the full size with ``--full``, else its own."""
    if not engine_for(spec.type).POOLED:
        return None
    if config.pool_size is not None:
        return config.pool_size
    if config.full:
        return spec.full_pool_size or spec.pool_size
    return spec.pool_size


def prepare_tasks(bench: Benchmark, ctx: DataContext, config: EvaluateConfig,
                  report: EvaluationReport) -> list[Prepared]:
    """Prepare every task (data + pools, no model); skipped tasks are recorded with their reason."""
    prepared = []
    for spec in bench.tasks:
        engine = engine_for(spec.type)
        try:
            p = engine.prepare(spec, ctx, pool_size_for(spec, config))
        except TaskSkipped as exc:
            log.info("task %s skipped: %s", spec.name, exc)
            report.skipped.append({"task": spec.name, "reason": str(exc)})
            continue
        prepared.append(p)
        report.tasks.append({"task": spec.name, "type": spec.type, "group": engine.group, "format": engine.format,
                             "description": spec.description, "pool_size": p.pool_size, "seed": spec.seed,
                             "data": [f.to_dict() for f in p.files], "texts": {k: len(v) for k, v in p.texts.items()},
                             "info": p.info, "options": {k: v for k, v in spec.options.items() if v not in ("", None)}})
    return prepared


def _pairs_of(p: Prepared, emb: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    if "queries" in emb and "candidates" in emb and "targets" in p.data:
        return emb["queries"], emb["candidates"][p.data["targets"]]
    if "positives" in emb:
        return emb["queries"], emb["positives"]
    return None


def _texts_of(emb: dict[str, np.ndarray]) -> np.ndarray:
    for key in ("texts", "candidates", "queries"):
        if key in emb:
            return emb[key]
    return next(iter(emb.values()))


def _check(config: EvaluateConfig) -> None:
    if not config.models:
        raise ConfigError("evaluate: give at least one model (--model PATH_OR_ID)")
    if not config.out:
        raise ConfigError("evaluate: give an output directory (--out DIR)")
    if config.batch_size < 1:
        raise ConfigError(f"evaluate: batch_size must be positive, got {config.batch_size}")
    if config.pool_size is not None and config.pool_size < 2:
        raise ConfigError(f"evaluate: pool_size must be at least 2, got {config.pool_size}")


@dataclass
class Session:
    """What one :func:`evaluate` call carries from model to model: the prepared tasks and the report."""

    config: EvaluateConfig
    out: Path
    cache_dir: Path | None
    prepared: list[Prepared]
    diagnostics: dict[str, Any]
    report: EvaluationReport
    timing: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("model_load_seconds", "encode_seconds", "score_seconds", "diagnostics_seconds", "mteb_seconds"), 0.0))
    maps: dict[str, list[tuple[str, np.ndarray, list[str]]]] = field(default_factory=dict)

    @property
    def by_name(self) -> dict[str, Prepared]:
        return {p.spec.name: p for p in self.prepared}


def evaluate(config: EvaluateConfig) -> EvaluationReport:
    """Score every model of ``config`` on the configured benchmark and write the report to ``config.out``.

    Returns the :class:`EvaluationReport`. Raises :class:`BenchmarkError` for bad benchmark files
    or data, :class:`semcse.encode.EncoderError` for models that cannot be loaded and
    :class:`ConfigError` for bad options.
    """
    t_start = time.perf_counter()
    _check(config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    bench = configure_benchmark(load_benchmark(config.benchmark, data_root=config.data_root), config)
    ctx = DataContext(bench, config.data_root)
    report = EvaluationReport(benchmark={"name": bench.name, "file": bench.source, "description": bench.description},
                              data_root=str(ctx.data_root), config=config.to_dict(), environment=_environment())
    t0 = time.perf_counter()
    prepared = prepare_tasks(bench, ctx, config, report)
    report.timing["prepare_seconds"] = round(time.perf_counter() - t0, 3)
    if not prepared and not config.mteb:
        raise BenchmarkError(f"{bench.source}: no task to run (all skipped: {[s['task'] for s in report.skipped]})")
    cache_dir = (Path(config.cache_dir) if config.cache_dir else out / "cache") if config.cache else None
    session = Session(config, out, cache_dir, prepared, {"texts": None, "pairs": None, "enabled": True, **bench.diagnostics},
                      report)
    for model_spec in config.models:
        score_model(session, model_spec)
    _finish(session, t_start)
    return report


def score_model(session: Session, model_spec: str) -> None:
    """Load one model, score it on every prepared task (plus diagnostics, maps and MTEB) into the report."""
    from semcse.encode import load_encoder_spec

    config, report, timing = session.config, session.report, session.timing
    t0 = time.perf_counter()
    encoder = load_encoder_spec(model_spec, pooling=config.pooling, similarity=config.similarity,
                                max_seq_length=config.max_seq_length, device=config.device,
                                trust_remote_code=config.trust_remote_code, default_max_seq_length=EVALUATION_MAX_LENGTH)
    timing["model_load_seconds"] += time.perf_counter() - t0
    base, k, taken = encoder.name, 2, {m["name"] for m in report.models}
    while encoder.name in taken:  # two models with the same folder name
        encoder.name, k = f"{base}#{k}", k + 1
    report.models.append({"spec": model_spec, **encoder.describe()})
    log.info("model %s: %s similarity, pooling %s, max length %s", encoder.name, encoder.similarity_fn_name,
             encoder.pooling, encoder.max_seq_length)
    kept: dict[str, dict[str, np.ndarray]] = {}
    for p in session.prepared:
        result, emb = score_task(encoder, p, config, session.cache_dir, timing)
        report.results.append(result)
        if p.spec.name in (session.diagnostics["texts"], session.diagnostics["pairs"]) or _maps_task(p, config):
            kept[p.spec.name] = emb
    if config.diagnostics and session.diagnostics.get("enabled", True):
        t0 = time.perf_counter()
        report.diagnostics[encoder.name] = _diagnostics(session.diagnostics, session.by_name, kept, session.prepared,
                                                        encoder, config)
        timing["diagnostics_seconds"] += time.perf_counter() - t0
    for p in session.prepared:
        if _maps_task(p, config) and p.spec.name in kept:
            names = p.data.get("label_names") or {}
            session.maps.setdefault(p.spec.name, []).append(
                (encoder.name, kept[p.spec.name]["texts"], [names.get(l, l) for l in p.data["labels"]]))
    if config.mteb:
        t0 = time.perf_counter()
        report.mteb += run_mteb(encoder, config.mteb, session.out / "mteb")
        timing["mteb_seconds"] += time.perf_counter() - t0
    del encoder
    gc.collect()


def score_task(encoder, p: Prepared, config: EvaluateConfig, cache_dir: Path | None,
               timing: dict[str, float]) -> tuple[TaskResult, dict[str, np.ndarray]]:
    """Encode one prepared task's texts with ``encoder`` and score them: its result and its embeddings."""
    engine = engine_for(p.spec.type)
    t0 = time.perf_counter()
    emb = {role: encoder.encode(texts, batch_size=config.batch_size, cache_dir=cache_dir, progress=config.progress,
                                description=f"{encoder.name} | {p.spec.name}: {role}")
           for role, texts in p.texts.items()}
    t_enc = time.perf_counter() - t0
    t0 = time.perf_counter()
    metrics = engine.score(p, emb, encoder.distance)
    per_query = metrics.pop(PER_QUERY, None)
    t_score = time.perf_counter() - t0
    timing["encode_seconds"] += t_enc
    timing["score_seconds"] += t_score
    metric = p.data.get("metric", engine.metric)
    result = TaskResult(task=p.spec.name, type=p.spec.type, group=engine.group, model=encoder.name,
                        similarity=encoder.similarity_fn_name, metric=metric, score=float(metrics[metric]),
                        higher_is_better=p.data.get("higher_is_better", engine.higher_is_better), metrics=metrics,
                        pool_size=p.pool_size, seed=p.spec.seed, data=[f.to_dict() for f in p.files], info=p.info, format=engine.format,
                        encode_seconds=round(t_enc, 3), score_seconds=round(t_score, 3),
                        per_query=None if per_query is None or metric not in ("mean_rank", "knn_agreement")
                        else np.asarray(per_query, dtype=np.float64))
    if result.per_query is not None and len(result.per_query):
        result.interval = [round(x, 6) for x in mean_interval(result.per_query, INTERVAL_CONFIDENCE, seed=p.spec.seed)]
    log.info("%s | %s: %s = %.4g (pool %d, seed %d)", encoder.name, p.spec.name, metric, result.score, p.pool_size,
             p.spec.seed)
    return result, emb


def _maps_task(p: Prepared, config: EvaluateConfig) -> bool:
    return bool(config.plots and p.spec.type == "clustering" and p.spec.options.get("map"))


def _finish(session: Session, t_start: float) -> None:
    """Maps, the SciRepEval summary, timing and the written report."""
    from semcse.evaluation import report as render
    from semcse.evaluation.scirepeval.protocol import summarise

    report, config, timing = session.report, session.config, session.timing
    t0 = time.perf_counter()
    for task, panels in session.maps.items():
        path = session.out / f"map_{task}.png"
        render.plot_map(panels, path, title=f"{task}: {config.projection} of the pool, coloured by label",
                        method=config.projection, seed=session.by_name[task].spec.seed)
        report.plots.append(path.name)
    timing["plot_seconds"] = time.perf_counter() - t0
    report.scirepeval = summarise(report.results)
    report.comparisons = compare_models(report.results, report.models[0]["name"]) if report.models else []
    t0 = time.perf_counter()
    report.paper_table = paper_table_of(session)
    timing["reference_seconds"] = time.perf_counter() - t0
    report.timing.update({k: round(v, 3) for k, v in timing.items()})
    report.timing["total_seconds"] = round(time.perf_counter() - t_start, 3)
    tot = report.timing["total_seconds"]
    report.timing["outside_encoding_share"] = round(1 - timing["encode_seconds"] / tot, 4) if tot else 0.0
    report.files = render.write_report(report, session.out)
    log.info("wrote %s", ", ".join(report.files.values()))


def compare_models(results: Sequence[TaskResult], reference: str, confidence: float = INTERVAL_CONFIDENCE,
                   seed: int | None = None) -> list[dict[str, Any]]:
    """Every other model vs ``reference``, per task where both have per-query values on the same queries:
    the relative change of the score with its paired bootstrap interval (seed: the task's, unless given).
    ``verdict`` is better / worse when the interval excludes 0 in that direction, else level."""
    by = {(r.model, r.task): r for r in results}
    others = [m for m in dict.fromkeys(r.model for r in results) if m != reference]
    out = []
    for ref in (r for r in results if r.model == reference and r.per_query is not None and r.per_query.mean()):
        for model in others:
            other = by.get((model, ref.task))
            if other is None or other.per_query is None or other.per_query.shape != ref.per_query.shape:
                continue
            change, low, high = paired_change_interval(ref.per_query, other.per_query, confidence,
                                                       seed=ref.seed if seed is None else seed)
            better = low > 0 if ref.higher_is_better else high < 0
            worse = high < 0 if ref.higher_is_better else low > 0
            out.append({"task": ref.task, "model": model, "reference": reference, "metric": ref.metric,
                        "pool": ref.pool_size, "reference_score": ref.score, "score": other.score,
                        "change": round(change, 6), "low": round(low, 6), "high": round(high, 6), "confidence": confidence,
                        "verdict": "better" if better else "worse" if worse else "level"})
    return out


def paper_table_of(session: Session) -> dict[str, Any]:
    """The SemCSE paper's table for the tasks that name a ``paper_column``, with Perf. against the chosen
    reference (TF-IDF scored here on the same pools, or the paper's fitted anchors); {} without such tasks."""
    from semcse.evaluation import paper_table
    from semcse.evaluation.reference import TfidfEncoder

    config = session.config
    tasks = [p for p in session.prepared if p.spec.paper_column]
    if not tasks:
        return {}
    reference = None
    if config.perf_reference == "tfidf":
        encoder = TfidfEncoder([t for p in tasks for texts in p.texts.values() for t in texts])
        scratch: dict[str, float] = dict.fromkeys(("encode_seconds", "score_seconds"), 0.0)
        reference = {p.spec.paper_column: score_task(encoder, p, config.replace(progress=False), None, scratch)[0].score
                     for p in tasks}
    elif config.perf_reference == "paper":
        reference = paper_table.paper_results()["anchors"]
    return paper_table.build(session.report.results, {p.spec.paper_column: p.spec.name for p in tasks},
                             {p.spec.name: p.pool_size for p in tasks}, config.perf_reference, reference,
                             include_paper=config.paper_table)


def _diagnostics(cfg: dict[str, Any], by_name: dict[str, Prepared], kept: dict[str, dict[str, np.ndarray]],
                 prepared: list[Prepared], encoder, config: EvaluateConfig) -> dict[str, Any]:
    from semcse.evaluation.diagnostics import diagnostics

    texts_task = cfg.get("texts") if cfg.get("texts") in kept else None
    if texts_task is None:  # fall back to the first task with a text list
        texts_task = next((name for name in kept), None)
    if texts_task is None and prepared:
        p = prepared[0]
        texts_task = p.spec.name
        kept[texts_task] = {r: encoder.encode(t, batch_size=config.batch_size, progress=False) for r, t in p.texts.items()}
    if texts_task is None:
        return {}
    pairs = None
    pairs_task = cfg.get("pairs")
    if pairs_task in kept:
        pairs = _pairs_of(by_name[pairs_task], kept[pairs_task])
    out = diagnostics(_texts_of(kept[texts_task]), pairs=pairs)
    out["texts_from"] = texts_task
    if pairs is not None:
        out["pairs_from"] = pairs_task
    return out


def run_mteb(encoder, tasks: tuple[str, ...] | list[str], out_dir: Path) -> list[dict[str, Any]]:
    """Hand the model to the ``mteb`` package (optional extra ``semcse[mteb]``; needs its data sets, i.e. network)."""
    try:
        import mteb
    except ImportError as exc:
        raise ConfigError("--mteb needs the mteb package: pip install 'semcse[mteb]' (and network access for its data)") from exc
    selected = mteb.get_tasks(tasks=list(tasks))
    if hasattr(mteb, "evaluate"):  # mteb >= 2
        results = mteb.evaluate(encoder.model, selected)
        task_results = getattr(results, "task_results", results)
    else:  # mteb 1.x
        task_results = mteb.MTEB(tasks=selected).run(encoder.model, output_folder=str(out_dir / encoder.name))
    out = []
    for r in task_results:
        score = r.get_score() if hasattr(r, "get_score") else None
        out.append({"model": encoder.name, "task": getattr(r, "task_name", str(r)),
                    "main_score": None if score is None else float(score)})
    return out


def _environment() -> dict[str, Any]:
    import sentence_transformers
    import sklearn
    import torch

    import semcse

    return {"semcse": semcse.__version__, "python": sys.version.split()[0], "torch": torch.__version__,
            "sentence_transformers": sentence_transformers.__version__, "scikit_learn": sklearn.__version__,
            "torch_threads": torch.get_num_threads(), "platform": platform.platform(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
