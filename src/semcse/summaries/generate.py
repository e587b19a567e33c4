"""``semcse summarize``: orchestrates corpus -> prompts -> backend -> cleaning -> store.

Work is planned from what the store already holds, so a rerun of the same command only generates
the missing (paper, prompt, sample) records, and does not even load the model when nothing is
missing. ``--shard I/N`` keeps the papers whose stable id hash falls in shard I of N.
"""

from __future__ import annotations

import contextlib
import json
import logging
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from semcse.config import ConfigError, SummarizeConfig, parse_shard
from semcse.corpus import Corpus, Paper, load_corpus
from semcse.fileio import atomic_write_json
from semcse.hashing import stable_int
from semcse.progress import Progress
from semcse.summaries.backends.base import Backend, BackendError, PaperJob, Request
from semcse.summaries.clean import RejectionCounter, TextFilter, clean_text
from semcse.summaries.prompts import Prompt, PromptSet, load_prompt_set
from semcse.summaries.store import SummaryRecord, SummaryStore

log = logging.getLogger(__name__)


def in_shard(paper_id: str, shard: tuple[int, int] | None) -> bool:
    return shard is None or stable_int("shard", paper_id) % shard[1] == shard[0]


def segment_name(shard: tuple[int, int] | None) -> str:
    return f"shard-{shard[0]}-of-{shard[1]}" if shard else "main"


def select_papers(corpus: Corpus, cfg: SummarizeConfig) -> list[Paper]:
    shard = parse_shard(cfg.shard)
    papers = [p for p in corpus.papers if in_shard(p.id, shard)]
    return papers[: cfg.limit] if cfg.limit is not None else papers


@dataclass
class PendingJobs:
    """The requests still missing from the store, grouped by paper (one :class:`PaperJob` per paper).

    A paper's prompts are rendered only when its job is reached: a fresh run over a large corpus holds
    (prompt, sample) pairs, not every rendered chat message at once.
    """

    prompts: PromptSet
    missing: list[tuple[Paper, list[tuple[Prompt, int]]]]  # (paper, [(prompt, sample), ...]) with at least one pair

    def __len__(self) -> int:
        return len(self.missing)

    @property
    def requests(self) -> int:
        return sum(len(pairs) for _, pairs in self.missing)

    def __getitem__(self, i: int) -> PaperJob:
        paper, pairs = self.missing[i]
        return PaperJob(paper.id, [Request(p.id, s, self.prompts.messages(p, paper.title, paper.abstract), self.prompts.stop)
                                   for p, s in pairs])

    def __iter__(self) -> Iterator[PaperJob]:
        return (self[i] for i in range(len(self.missing)))


def plan_jobs(papers: list[Paper], prompts: PromptSet, samples: int, done: set) -> PendingJobs:
    """The requests still missing from the store, grouped by paper (rendered lazily, see :class:`PendingJobs`)."""
    missing = []
    for paper in papers:
        pairs = [(p, s) for p in prompts.prompts for s in range(samples) if (paper.id, p.id, s) not in done]
        if pairs:
            missing.append((paper, pairs))
    return PendingJobs(prompts, missing)


# the continuous schedule is faster up to this many sequences per paper (prompts x samples), the per-paper
# schedule above it (docs/results.md, Speed: 2 cores, SmolLM2-135M, 2 x 1 and 2 x 2 against 5 x 3)
CONTINUOUS_MAX_SEQUENCES = 4


def resolve_engine(cfg: SummarizeConfig, sequences_per_paper: int | None = None) -> SummarizeConfig:
    """``cfg`` with ``--schedule auto`` and ``--quantization auto`` decided: continuous for at most
    :data:`CONTINUOUS_MAX_SEQUENCES` sequences per paper (prompts x samples; default: those of
    ``cfg``'s prompt set), else per-paper; q8_0 for the packaged default model, a user's ``--model``
    as shipped. Settings already decided are kept."""
    schedule = cfg.schedule
    if schedule == "auto":
        if sequences_per_paper is None:
            prompts = load_prompt_set(cfg.prompts, cfg.task).head(cfg.max_prompts)
            sequences_per_paper = len(prompts.prompts) * (cfg.samples or prompts.samples)
        schedule = "continuous" if sequences_per_paper <= CONTINUOUS_MAX_SEQUENCES else "per-paper"
    quantization = cfg.quantization
    if quantization == "auto":
        quantization = "q8_0" if cfg.model is None else "as-shipped"
    return cfg.replace(schedule=schedule, quantization=quantization)


def _engine_flash_attn(cfg: SummarizeConfig) -> bool | None:
    """The flash-attention setting the embedded engine gets: ``cfg.flash_attn`` in the continuous
    schedule, None (llama.cpp's own choice) in the per-paper one."""
    return cfg.flash_attn if cfg.schedule == "continuous" else None


def make_backend(cfg: SummarizeConfig) -> Backend:
    """Build the configured backend (loads the model / checks the server); ``auto`` engine settings are
    decided by :func:`resolve_engine`."""
    if cfg.backend == "llamacpp":
        cfg = resolve_engine(cfg)
        from semcse.summaries.backends.isolated import IsolatedBackend
        from semcse.summaries.backends.llamacpp import LlamaCppBackend

        # in a child process: a native crash (SIGILL on a CPU the build does not fit) is reported
        continuous = cfg.schedule == "continuous"
        return IsolatedBackend(LlamaCppBackend, what="the llama.cpp engine", model=cfg.model, n_ctx=cfg.n_ctx,
                               n_threads=cfg.n_threads, n_gpu_layers=cfg.n_gpu_layers,
                               n_parallel=cfg.parallel if continuous else max(1, (cfg.samples or 3)),
                               schedule=cfg.schedule, kv_unified=cfg.kv_unified,
                               n_batch=cfg.n_batch if continuous else None, quantization=cfg.quantization,
                               flash_attn=_engine_flash_attn(cfg))
    if cfg.backend == "openai":
        from semcse.summaries.backends.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend(cfg.base_urls, cfg.server_model, cfg.api_key_env, cfg.concurrency, cfg.request_timeout, cfg.max_retries)
    raise ConfigError(f"unknown backend {cfg.backend!r} (llamacpp or openai)")


@dataclass
class SummarizeResult:
    """What a summarize call did; ``stats`` is also written to the run's stats JSON."""

    run_dir: Path
    stats: dict[str, Any]
    error: str | None = None
    stats_path: Path | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class RunCounters:
    generated: int = 0
    tokens: int = 0
    prompt_tokens: int = 0
    papers_done: int = 0
    rejections: RejectionCounter = field(default_factory=RejectionCounter)
    failures: Counter = field(default_factory=Counter)
    first_failure: str | None = None


def failure_cause(g, max_tokens: int | None) -> tuple[str, str] | None:
    """(short cause, detail) of a failed generation (retried by the next run); None if it produced an answer."""
    if g.finish_reason == "error":
        detail = str(g.extra.get("error") or "backend error")
        return ("context overflow" if "does not fit" in detail else detail.split(":")[0][:40]), detail
    if not g.text.strip():
        if g.finish_reason == "length":
            return "truncated", f"empty: cut by the token limit (max_tokens={max_tokens})"
        return "empty reply", "the server's reply has no text"
    return None


def to_records(paper: Paper, prompts: PromptSet, gens, model: str, params: dict, text_filter: TextFilter,
               counters: RunCounters, source: str = "llm") -> list[SummaryRecord]:
    """Clean and filter a paper's generations into store records: accepted, rejected by the quality
    filter (kept with a reason, not retried) or failed (kept with the cause, retried next run)."""
    instructions = {p.id: p.instruction for p in prompts.prompts}
    out = []
    for g in gens:
        counters.generated += 1
        counters.tokens += g.tokens
        counters.prompt_tokens += g.prompt_tokens
        cause = failure_cause(g, params.get("max_tokens"))
        text, reason = "", None
        if cause is None:
            text = clean_text(g.text, truncated=g.finish_reason == "length")
            reason = text_filter.reason(text, paper.abstract, instructions.get(g.prompt_id, ""))
            if reason is not None and g.finish_reason == "length":
                # cut by --max-tokens before it said enough: a failure a larger limit can fix, not a bad summary
                cause = ("truncated", f"cut by the token limit (max_tokens={params.get('max_tokens')}) and then {reason}")
                reason = None
        rec = SummaryRecord(paper.id, g.prompt_id, g.sample, text if reason is None and cause is None else g.text,
                            model=model, params=params, tokens=g.tokens, source=source)
        if cause is not None:
            rec.status, rec.reason = "failed", cause[0]
            rec.params = {**params, "error": cause[1][:500]}
            counters.failures[cause[0]] += 1
            counters.first_failure = counters.first_failure or f"{cause[0]} ({cause[1][:300]})"
        else:
            counters.rejections.add(reason)
            if reason is not None:
                rec.status, rec.reason = "rejected", reason
        out.append(rec)
    return out


# failures that the same settings reproduce exactly (seeded sampling): retried only when a setting changed
DETERMINISTIC_FAILURES = ("truncated", "context overflow")


def done_keys(store: SummaryStore, cfg: SummarizeConfig, model: str | None) -> set:
    """Keys the store holds that need no new generation (one read of the store).

    Failed records are generated again: by default every failure, except truncations and context
    overflows under unchanged settings (they would fail the same way); with ``--no-retry-failed`` only
    failures whose --max-tokens, --n-ctx or model changed since."""
    now = {"max_tokens": cfg.sampling.max_tokens, "n_ctx": cfg.n_ctx}

    def retry(r: SummaryRecord) -> bool:
        changed = any(r.params.get(k) != v for k, v in now.items()) or bool(model and r.model and r.model != model)
        return changed or (cfg.retry_failed and r.reason not in DETERMINISTIC_FAILURES)

    return {r.key for r in store.iter_all() if r.status != "failed" or not retry(r)}


def summarize(cfg: SummarizeConfig, corpus: Corpus | None = None, backend: Backend | None = None) -> SummarizeResult:
    """Generate the missing summaries (or queries) of a corpus into ``cfg.out``.

    Returns a :class:`SummarizeResult`; a backend failure does not raise: finished work is in the
    store, ``result.error`` says what failed, and rerunning the same call continues.
    """
    if not cfg.out:
        raise ConfigError("summarize needs an output run directory (--out)")
    run_dir = Path(cfg.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    corpus = corpus or load_corpus(cfg.corpus)
    prompts = load_prompt_set(cfg.prompts, cfg.task).head(cfg.max_prompts)
    samples = cfg.samples or prompts.samples
    if samples < 1:  # --samples has its range; this is the prompt file's
        raise ConfigError(f"{prompts.name}: samples must be at least 1, got {samples}")
    cfg = resolve_engine(cfg, len(prompts.prompts) * samples)
    shard = parse_shard(cfg.shard)
    papers = select_papers(corpus, cfg)
    by_id = {p.id: p for p in papers}
    store = SummaryStore(run_dir)
    done = done_keys(store, cfg, _model_label(cfg))
    jobs = plan_jobs(papers, prompts, samples, done)
    expected = len(papers) * len(prompts.prompts) * samples
    already = expected - jobs.requests
    params = {**cfg.sampling.to_dict(), "prompt_set": prompts.name, "task": cfg.task, "n_ctx": cfg.n_ctx}
    text_filter = TextFilter(min_words=cfg.min_words if cfg.min_words is not None else prompts.min_words)
    counters = RunCounters()
    error: str | None = None
    model_name = None
    t0 = time.perf_counter()

    with contextlib.ExitStack() as stack:
        # the segment's lock first: a second process on the same run stops here, before writing anything
        writer = stack.enter_context(store.writer(segment_name(shard), fsync_every=cfg.flush_every)) if jobs else None
        _write_run_config(run_dir, cfg)
        if writer is not None:
            error, model_name = _generate(cfg, jobs, backend, writer, by_id, prompts, params, text_filter, counters,
                                          expected - already, expected)
    if error is None and counters.generated and counters.failures.total() == counters.generated:
        error = f"all {counters.generated} generations failed; first cause: {counters.first_failure}"
    elapsed = time.perf_counter() - t0
    prompt_ids = {p.id for p in prompts.prompts}
    final = [r for r in store.iter_all() if r.paper_id in by_id and r.prompt_id in prompt_ids and r.sample < samples]
    stats = {
        "run_dir": str(run_dir),
        "task": cfg.task,
        "corpus": corpus.report.to_dict(),
        "shard": cfg.shard,
        "papers": len(papers),
        "prompts": [p.id for p in prompts.prompts],
        "samples_per_prompt": samples,
        "expected_records": expected,
        "already_present": already,
        "this_run": {
            "generated": counters.generated,
            "accepted": counters.rejections.accepted,
            "rejected": dict(counters.rejections.rejected),
            "failed": dict(counters.failures),
            "first_failure": counters.first_failure,
            "papers_completed": counters.papers_done,
            "generated_tokens": counters.tokens,
            "prompt_tokens": counters.prompt_tokens,
            "elapsed_s": round(elapsed, 3),
            "summaries_per_s": round(counters.generated / elapsed, 3) if elapsed > 0 and counters.generated else 0.0,
            "tokens_per_s": round(counters.tokens / elapsed, 2) if elapsed > 0 and counters.tokens else 0.0,
        },
        "store": {
            "records": len(final),
            "accepted": sum(r.status == "ok" for r in final),
            "rejected_by_reason": dict(Counter(str(r.reason) for r in final if r.status == "rejected")),
            "failed_by_cause": dict(Counter(str(r.reason) for r in final if r.status == "failed")),
            "missing": expected - len(final),
        },
        "backend": cfg.backend,
        "engine": ({"schedule": cfg.schedule, "quantization": cfg.quantization,
                    "flash_attn": "llama.cpp's choice" if _engine_flash_attn(cfg) is None else cfg.flash_attn}
                   if cfg.backend == "llamacpp" else None),
        # a rerun that generated nothing names the model its records were written by
        "model": model_name or cfg.model or cfg.server_model or _records_model(final),
        "sampling": cfg.sampling.to_dict(),
        "prompt_set": prompts.name,
        "host": platform.node(),
        "error": error,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    stats_path = run_dir / (f"stats.{segment_name(shard)}.json" if shard else "stats.json")
    atomic_write_json(stats_path, stats)
    return SummarizeResult(run_dir, stats, error, stats_path)


def _records_model(records) -> str | None:
    """The model most of ``records`` were generated by (None if none says)."""
    counts = Counter(r.model for r in records if r.model)
    return counts.most_common(1)[0][0] if counts else None


def _generate(cfg: SummarizeConfig, jobs: PendingJobs, backend: Backend | None, writer, by_id: dict[str, Paper],
              prompts: PromptSet, params: dict, text_filter: TextFilter, counters: RunCounters, todo: int,
              expected: int) -> tuple[str | None, str | None]:
    """Run the backend over ``jobs``, writing each paper's records as it finishes; returns (error, model name)."""
    log.info("%d papers, %d of %d records to generate", len(jobs), todo, expected)
    own_backend = backend is None
    progress = None
    error = model_name = None
    try:
        backend = backend or make_backend(cfg)
        model_name = backend.model_name
        # counted in summaries, not papers: papers resumed half-done would skew the ETA
        progress = Progress(f"{cfg.task} ({len(jobs)} papers)", total=todo, unit=cfg.task, rates=(cfg.task, "tokens"),
                            enabled=cfg.progress)
        remaining = {paper.id: len(pairs) for paper, pairs in jobs.missing}
        for job, gens in backend.run(jobs, cfg.sampling):
            writer.write(to_records(by_id[job.paper_id], prompts, gens, model_name, params, text_filter, counters))
            remaining[job.paper_id] -= len(gens)
            counters.papers_done += remaining[job.paper_id] <= 0
            progress.advance(len(gens), **{cfg.task: len(gens)}, tokens=sum(g.tokens for g in gens))
    except BackendError as exc:
        error = str(exc)
    finally:
        if progress:
            progress.close()
        if own_backend and backend is not None:
            backend.close()
    return error, model_name


def _model_label(cfg: SummarizeConfig) -> str | None:
    """The model name records of this configuration (its engine settings decided by :func:`resolve_engine`)
    carry: GGUF file name or server model, if known up front."""
    if cfg.backend == "llamacpp":
        if cfg.quantization == "as-shipped":
            return Path(cfg.model).name if cfg.model else None
        from semcse.summaries.backends.llamacpp import DEFAULT_GGUF
        from semcse.summaries.backends.quantize import quantized_name

        return quantized_name(Path(cfg.model).name if cfg.model else DEFAULT_GGUF, cfg.quantization)
    return cfg.server_model


# settings whose change makes a resumed run mix records of two different jobs in one store
_RECORD_SETTINGS = ("corpus", "task", "prompts", "sampling")


def _write_run_config(run_dir: Path, cfg: SummarizeConfig) -> None:
    """Write ``summarize.config.json``; warn when a resumed run changed what its records mean."""
    path = run_dir / "summarize.config.json"
    new = cfg.to_dict()
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        changed = [k for k in _RECORD_SETTINGS if k in old and old.get(k) != new.get(k)]
        if changed:
            log.warning("%s: this run changes %s since the store's earlier runs; its records will sit beside the "
                        "earlier ones (use a new --out to keep them apart)", run_dir, ", ".join(changed))
    atomic_write_json(path, new)
