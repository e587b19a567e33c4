"""Offline batch files in the OpenAI Batch format.

:func:`write_batch_requests` writes every missing (paper, prompt, sample) of a run as one request
line ``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body": {...}}``, split into
files of at most ``max_requests_per_file`` lines. Run them with ``vllm run-batch -i FILE -o OUT
--model M`` on GPU nodes, or upload them to a hosted batch API; then
:func:`read_batch_results` reads the output lines (``{"custom_id", "response": {"status_code",
"body"}, "error"}``) back into the run's store, cleaned and filtered like live generations.
"""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Iterable

from semcse.config import SummarizeConfig
from semcse.corpus import iter_jsonl, load_corpus
from semcse.fileio import atomic_write_json, atomic_write_text
from semcse.summaries.backends.base import Request
from semcse.summaries.backends.openai_compat import generation_from_response, request_body
from semcse.summaries.clean import TextFilter
from semcse.summaries.generate import RunCounters, done_keys, plan_jobs, select_papers, to_records
from semcse.summaries.prompts import load_prompt_set
from semcse.summaries.store import SummaryStore

SEP = "::"
MANIFEST = "batch/manifest.json"


class BatchError(ValueError):
    """A batch file that does not belong to this run or cannot be read."""


def custom_id(paper_id: str, prompt_id: str, sample: int) -> str:
    return f"{paper_id}{SEP}{prompt_id}{SEP}{sample}"


def parse_custom_id(cid: str) -> tuple[str, str, int]:
    """Inverse of :func:`custom_id`; paper ids may themselves contain the separator."""
    paper_id, prompt_id, sample = cid.rsplit(SEP, 2)
    return paper_id, prompt_id, int(sample)


def write_batch_requests(cfg: SummarizeConfig, max_requests_per_file: int = 50_000) -> list[tuple[Path, int]]:
    """Write the run's missing requests to ``<out>/batch/requests-NNNN.jsonl``. Returns (file, count) pairs."""
    if not cfg.server_model:
        raise BatchError("batch requests need the server's model name (--server-model)")
    run_dir = Path(cfg.out)
    corpus = load_corpus(cfg.corpus)
    prompts = load_prompt_set(cfg.prompts, cfg.task).head(cfg.max_prompts)
    samples = cfg.samples or prompts.samples
    papers = select_papers(corpus, cfg)
    jobs = plan_jobs(papers, prompts, samples, done_keys(SummaryStore(run_dir), cfg, cfg.server_model))
    batch_dir = run_dir / "batch"
    batch_dir.mkdir(parents=True, exist_ok=True)
    for old in batch_dir.glob("requests-*.jsonl"):
        old.unlink()
    lines = (
        json.dumps({"custom_id": custom_id(job.paper_id, req.prompt_id, req.sample), "method": "POST",
                    "url": "/v1/chat/completions", "body": request_body(cfg.server_model, req, cfg.sampling, job.paper_id)},
                   ensure_ascii=False) + "\n"
        for job in jobs for req in job.requests
    )
    files: list[tuple[Path, int]] = []
    while chunk := list(islice(lines, max_requests_per_file)):
        path = batch_dir / f"requests-{len(files) + 1:04d}.jsonl"
        atomic_write_text(path, "".join(chunk))
        files.append((path, len(chunk)))
    manifest = {"config": cfg.to_dict(), "files": [[str(p.name), n] for p, n in files]}
    atomic_write_json(run_dir / MANIFEST, manifest)
    return files


def read_batch_results(run_dir: str | Path, result_files: Iterable[str | Path]) -> dict:
    """Import batch output lines into the store of ``run_dir`` (written by :func:`write_batch_requests`)."""
    run_dir = Path(run_dir)
    manifest_path = run_dir / MANIFEST
    if not manifest_path.exists():
        raise BatchError(f"{run_dir}: no {MANIFEST}; write the requests with `semcse summarize batch-write` first")
    cfg = SummarizeConfig.from_dict(json.loads(manifest_path.read_text(encoding="utf-8"))["config"])
    corpus = load_corpus(cfg.corpus)
    papers = {p.id: p for p in select_papers(corpus, cfg)}
    prompts = load_prompt_set(cfg.prompts, cfg.task).head(cfg.max_prompts)
    prompt_ids = {p.id for p in prompts.prompts}
    text_filter = TextFilter(min_words=cfg.min_words if cfg.min_words is not None else prompts.min_words)
    params = {**cfg.sampling.to_dict(), "prompt_set": prompts.name, "task": cfg.task, "n_ctx": cfg.n_ctx}
    store = SummaryStore(run_dir)
    done, failed_text = set(), {}  # answered keys; failed keys with their text (the same result read again is no news)
    for r in store.iter_all():
        if r.status == "failed":
            failed_text[r.key] = r.text
        else:
            done.add(r.key)
    counters = RunCounters()
    stats = {"lines": 0, "imported": 0, "already_present": 0, "failed": 0, "failed_examples": [], "unknown": 0}
    with store.writer("batch") as writer:
        for path in map(Path, result_files):
            if not path.exists():
                raise BatchError(f"batch result file not found: {path}")
            for row, obj in iter_jsonl(path):
                stats["lines"] += 1
                if isinstance(obj, Exception):
                    raise BatchError(f"{path}:{row}: {obj}")
                try:
                    key = parse_custom_id(str(obj["custom_id"]))
                except (KeyError, ValueError) as exc:
                    raise BatchError(f"{path}:{row}: bad or missing custom_id") from exc
                if key[0] not in papers or key[1] not in prompt_ids:
                    stats["unknown"] += 1
                    continue
                if key in done:
                    stats["already_present"] += 1
                    continue
                resp = obj.get("response") or {}
                if obj.get("error") or resp.get("status_code", 200) != 200 or not resp.get("body"):
                    stats["failed"] += 1
                    if len(stats["failed_examples"]) < 5:
                        stats["failed_examples"].append(f"{path}:{row}: {obj.get('error') or resp.get('status_code')}")
                    continue  # left missing: a rerun of batch-write asks for it again
                gen = generation_from_response(Request(key[1], key[2], []), resp["body"])
                if failed_text.get(key) == gen.text:
                    stats["already_present"] += 1
                    continue
                model = resp["body"].get("model") or cfg.server_model or "batch"
                writer.write(to_records(papers[key[0]], prompts, [gen], model, params, text_filter, counters, source="batch"))
                done.add(key)
                stats["imported"] += 1
    stats["accepted"] = counters.rejections.accepted
    stats["rejected"] = dict(counters.rejections.rejected)
    stats["failed_records"] = dict(counters.failures)  # retried by the next batch-write
    return stats
