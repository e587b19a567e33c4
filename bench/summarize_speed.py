"""Summary generation speed on this machine: the continuous engine vs today's per-paper engine vs a naive baseline vs the decode ceiling.

    .venv/bin/python bench/summarize_speed.py [--papers 20] [--settings 2x1,2x2,5x3] [--max-tokens 128]
        [--parallel 16,32,64] [--quantization as-shipped,q8_0,iq4_nl] [--kv streams,unified] [--n-batch 512]
        [--flash-attn off,on] [--baseline-quantization as-shipped] [--naive-papers 4 | --no-naive]
        [--pipeline] [--out results.json]

For each setting K x C (the first K prompts of the packaged set, C samples each) on the same papers,
every engine generates all K x C summaries of every paper (model loaded and warmed up first; the
time counts prompt decoding, generation and sampling):

(new)   the continuous engine (``schedule="continuous"``): up to ``--parallel`` sequences from
        several papers in flight, prompts of several papers decoded together; one row per
        combination of ``--parallel``, ``--quantization``, ``--kv``, ``--n-batch`` and ``--flash-attn``;
(today) the per-paper engine (``schedule="per-paper"``, the engine before continuous batching):
        one paper at a time, its K x C sequences together;
(naive) one independent request per summary, KV cache cleared before each (no prefix reuse, no
        parallel sequences), on the first ``--naive-papers`` papers;
(c)     the decode ceiling: one sequence's decode speed (tokens/s after the prompt is in), once
        per quantization.

Per row: summaries/s, generated tokens/s, the share of decode time spent in calls with prompt
tokens (prefill), the share of wall time in sampling and Python, and the mean number of sequences
a generation step advanced. Then the ratios new / ceiling (tokens/s; against the ceiling of the
same quantization and of the model as shipped) and new / today (summaries/s, against the per-paper
engine as shipped when it ran). ``--baseline-quantization`` limits (naive) and (today) to some
quantizations (they are slow). ``--pipeline`` also times ``summarize()`` end to end (engine child process, store,
model load) with each schedule. ``--out`` writes everything as JSON. Run it on a quiet machine:
the engine wants every core.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEMCSE_DATA", REPO.parent / "shared" / "data"))


def cpu_model() -> str:
    """lscpu's model name (else /proc/cpuinfo's, else the platform's)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.strip().startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _list(text: str, kind=str) -> list:
    return [kind(x.strip()) for x in text.split(",") if x.strip()]


def _on_off(text: str) -> bool:
    if text not in ("on", "off"):
        raise SystemExit(f"--flash-attn takes on and/or off, not {text!r}")
    return text == "on"


def _setting(text: str) -> tuple[int, int]:
    k, c = text.lower().split("x")
    return int(k), int(c)


def time_run(backend, jobs, sampling) -> dict:
    """Generate every request of ``jobs``; summaries, tokens, seconds and the engine's counters."""
    backend.reset_stats()
    t0 = time.perf_counter()
    gens = [g for _, gs in backend.run(jobs, sampling) for g in gs]
    dt = time.perf_counter() - t0
    st = dict(backend.stats)
    decode = st["prefill_s"] + st["gen_s"]
    return {"summaries": len(gens), "errors": sum(g.finish_reason == "error" for g in gens),
            "tokens": sum(g.tokens for g in gens), "seconds": round(dt, 3),
            "summaries_per_s": round(len(gens) / dt, 3), "tokens_per_s": round(sum(g.tokens for g in gens) / dt, 2),
            "prefill_share": round(st["prefill_s"] / decode, 3) if decode else None,
            "python_share": round(max(0.0, dt - decode) / dt, 3),  # sampling, detokenizing, batch building
            "mean_batch": round(st["seq_steps"] / st["gen_calls"], 1) if st["gen_calls"] else None,
            "prompt_tokens_decoded": st["prompt_tokens"], "stats": st}


def naive_run(backend, jobs, sampling) -> dict:
    """One request at a time, cache cleared before each (the per-paper engine with a 1-request paper)."""
    from semcse.summaries.backends.base import PaperJob

    backend.reset_stats()
    t0, tokens, count = time.perf_counter(), 0, 0
    for job in jobs:
        for req in job.requests:
            gen = backend.generate_paper(PaperJob(job.paper_id, [req]), sampling)[0]
            tokens += gen.tokens
            count += 1
    dt = time.perf_counter() - t0
    st = dict(backend.stats)
    decode = st["prefill_s"] + st["gen_s"]
    return {"summaries": count, "tokens": tokens, "seconds": round(dt, 3), "summaries_per_s": round(count / dt, 3),
            "tokens_per_s": round(tokens / dt, 2), "prefill_share": round(st["prefill_s"] / decode, 3) if decode else None,
            "python_share": round(max(0.0, dt - decode) / dt, 3), "mean_batch": 1.0, "stats": st}


def ceiling(backend, prompt_messages, sampling, n: int = 256) -> tuple[float, int]:
    """One sequence, prompt already in the cache, ``n`` tokens one by one (end of text ignored): tokens/s."""
    ll = backend.ll
    ll.llama_memory_clear(ll.llama_get_memory(backend._ctx), True)
    prompt = backend.tokenize(backend.render(prompt_messages))
    backend._decode([(t, i, [0], i == len(prompt) - 1) for i, t in enumerate(prompt)])
    sampler = backend._make_sampler(sampling, 1)
    pos, idx = len(prompt), len(prompt) - 1
    t0 = time.perf_counter()
    try:
        for _ in range(n):
            tok = ll.llama_sampler_sample(sampler, backend._ctx, idx)
            backend._decode([(tok, pos, [0], True)])
            pos, idx = pos + 1, 0
    finally:
        ll.llama_sampler_free(sampler)
    return n / (time.perf_counter() - t0), len(prompt)


def row(label: str, r: dict) -> str:
    extra = ""
    if r.get("prefill_share") is not None:
        extra += f"  prefill {100 * r['prefill_share']:4.1f}% of decode time"
    extra += f"  python/sampling {100 * r['python_share']:4.1f}%"
    if r.get("mean_batch"):
        extra += f"  mean batch {r['mean_batch']}"
    if r.get("errors"):
        extra += f"  ({r['errors']} errors)"
    return (f"  {label:<58} {r['summaries_per_s']:7.2f} summaries/s {r['tokens_per_s']:8.1f} tok/s "
            f"({r['seconds']:.1f}s){extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", type=int, default=20)
    ap.add_argument("--settings", default="2x1,2x2,5x3", help="prompts x samples, comma-separated")
    ap.add_argument("--model", default=None)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--corpus", default=str(DATA / "scitldr" / "dev.jsonl"))
    ap.add_argument("--parallel", default="32", help="sequences in flight (continuous engine), comma-separated sweep")
    ap.add_argument("--quantization", default="as-shipped", help="as-shipped,q8_0,q4_0,iq4_nl (comma-separated sweep)")
    ap.add_argument("--kv", default="streams", help="streams (one KV stream per sequence), unified, or both: streams,unified")
    ap.add_argument("--flash-attn", default="off", help="flash attention of the continuous engine: off, on, or both: off,on")
    ap.add_argument("--n-batch", default="512", help="prompt tokens per step (continuous engine), comma-separated sweep")
    ap.add_argument("--baseline-quantization", default=None,
                    help="run the naive and per-paper baselines on these only (default: every --quantization)")
    ap.add_argument("--naive-papers", type=int, default=4, help="papers the naive baseline runs on (it is slow)")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    ap.add_argument("--no-per-paper", action="store_true", help="skip today's per-paper engine")
    ap.add_argument("--pipeline", action="store_true", help="also time summarize() end to end with each schedule")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the results as JSON")
    args = ap.parse_args()

    from semcse.config import CorpusConfig, SamplingConfig, SummarizeConfig
    from semcse.corpus import load_corpus
    from semcse.summaries import load_prompt_set, summarize
    from semcse.summaries.backends.llamacpp import LlamaCppBackend, default_gguf_path
    from semcse.summaries.generate import plan_jobs

    settings = [_setting(s) for s in _list(args.settings)]
    parallels = _list(args.parallel, int)
    quants = _list(args.quantization)
    kvs = _list(args.kv)
    batches = _list(args.n_batch, int)
    flash = [_on_off(x) for x in _list(args.flash_attn)]
    gguf = args.model or str(default_gguf_path())
    sampling = SamplingConfig(max_tokens=args.max_tokens, seed=args.seed)
    corpus = load_corpus(CorpusConfig(source=args.corpus, limit=args.papers))
    prompts = load_prompt_set()
    cpu = cpu_model()
    print(f"CPU: {cpu} ({os.cpu_count()} logical cores), {args.threads} threads")
    print(f"model {Path(gguf).name}, {len(corpus)} papers, settings {args.settings} (prompts x samples), "
          f"max_tokens {args.max_tokens}, seed {args.seed}")
    report = {"cpu": cpu, "cores": os.cpu_count(), "threads": args.threads, "model": Path(gguf).name,
              "papers": len(corpus), "max_tokens": args.max_tokens, "seed": args.seed, "ceiling": {}, "results": []}
    jobs_by = {(k, c): list(plan_jobs(corpus.papers, prompts.head(k), c, set())) for k, c in settings}
    warm_job = [jobs_by[settings[0]][0]]
    warm_sampling = SamplingConfig(max_tokens=4, seed=args.seed)
    rows: dict[tuple[int, int], list[tuple[str, dict]]] = {s: [] for s in settings}

    def record(setting, engine: str, config: dict, r: dict, label: str) -> None:
        rows[setting].append((label, r))
        report["results"].append({"setting": f"{setting[0]}x{setting[1]}", "engine": engine, **config,
                                  **{k: v for k, v in r.items()}})

    # (c) the decode ceiling, and (naive) / (today) on today's engine, per quantization
    baseline_quants = _list(args.baseline_quantization) if args.baseline_quantization else quants
    for quant in dict.fromkeys(quants + baseline_quants):
        baseline = quant in baseline_quants
        base = LlamaCppBackend(gguf, n_threads=args.threads, schedule="per-paper", n_parallel=1, quantization=quant)
        try:
            c_tps, n_prompt = ceiling(base, jobs_by[settings[0]][0].requests[0].messages, sampling)
            report["ceiling"][quant] = round(c_tps, 1)
            print(f"(c) decode ceiling, {quant}: {c_tps:7.1f} tok/s (one sequence, 256 tokens after a {n_prompt}-token prompt)")
            if baseline and not args.no_naive:
                for setting in settings:
                    jobs = jobs_by[setting][: max(1, args.naive_papers)]
                    r = naive_run(base, jobs, sampling)
                    record(setting, "naive", {"quantization": quant, "papers_run": len(jobs)}, r,
                           f"naive ({len(jobs)} papers, {quant})")
        finally:
            base.close()
        if baseline and not args.no_per_paper:
            today = LlamaCppBackend(gguf, n_threads=args.threads, schedule="per-paper", quantization=quant)
            try:
                list(today.run(warm_job, warm_sampling))
                for setting in settings:
                    r = time_run(today, jobs_by[setting], sampling)
                    record(setting, "per-paper", {"quantization": quant}, r, f"today: per-paper ({quant})")
            finally:
                today.close()

    # (new) the continuous engine, every combination of the sweeps
    for quant in quants:
        for kv in kvs:
            for parallel, n_batch, fa in itertools.product(parallels, batches, flash):
                config = {"quantization": quant, "kv": kv, "parallel": parallel, "n_batch": n_batch, "flash_attn": fa}
                new = LlamaCppBackend(gguf, n_threads=args.threads, n_parallel=parallel, kv_unified=kv == "unified",
                                      n_batch=n_batch, quantization=quant, flash_attn=fa)
                try:
                    list(new.run(warm_job, warm_sampling))
                    for setting in settings:
                        r = time_run(new, jobs_by[setting], sampling)
                        record(setting, "continuous", config, r,
                               f"new: {kv}, parallel {parallel}, n_batch {n_batch}, {quant}" + (", flash attn" if fa else ""))
                finally:
                    new.close()

    # summarize() end to end: model load, engine child process, store
    if args.pipeline:
        for setting in settings:
            for schedule in ("continuous", "per-paper"):
                with tempfile.TemporaryDirectory() as tmp:
                    cfg = SummarizeConfig(corpus=CorpusConfig(source=args.corpus, limit=args.papers), out=tmp, model=gguf,
                                          sampling=sampling, n_threads=args.threads, progress=False, max_prompts=setting[0],
                                          samples=setting[1], schedule=schedule, parallel=parallels[0],
                                          kv_unified=kvs[0] == "unified", n_batch=batches[0], quantization=quants[0])
                    res = summarize(cfg, corpus=corpus)
                run = res.stats["this_run"]
                r = {"summaries": run["generated"], "tokens": run["generated_tokens"], "seconds": run["elapsed_s"],
                     "summaries_per_s": run["summaries_per_s"], "tokens_per_s": run["tokens_per_s"], "python_share": 0.0,
                     "error": res.error}
                record(setting, f"pipeline-{schedule}", {"quantization": quants[0]}, r,
                       f"summarize() end to end, {schedule}")

    for setting in settings:
        k, c = setting
        print(f"\nsetting {k}x{c}: {len(jobs_by[setting])} papers x {k} prompts x {c} samples = "
              f"{sum(len(j.requests) for j in jobs_by[setting])} summaries")
        for label, r in rows[setting]:
            print(row(label, r))
        todays = {res["quantization"]: res for res in report["results"]
                  if res["engine"] == "per-paper" and res["setting"] == f"{k}x{c}"}
        for res in report["results"]:
            if res["engine"] != "continuous" or res["setting"] != f"{k}x{c}":
                continue
            ceil = report["ceiling"].get(res["quantization"])
            today = todays.get("as-shipped") or todays.get(res["quantization"])
            shipped = report["ceiling"].get("as-shipped")
            parts = []
            if ceil:
                res["ratio_tokens_vs_ceiling"] = round(res["tokens_per_s"] / ceil, 2)
                parts.append(f"tok/s new/ceiling {res['ratio_tokens_vs_ceiling']:.2f}")
            if shipped and res["quantization"] != "as-shipped":
                res["ratio_tokens_vs_shipped_ceiling"] = round(res["tokens_per_s"] / shipped, 2)
                parts.append(f"new/as-shipped ceiling {res['ratio_tokens_vs_shipped_ceiling']:.2f}")
            if today:
                res["ratio_summaries_vs_per_paper"] = round(res["summaries_per_s"] / today["summaries_per_s"], 2)
                parts.append(f"summaries/s new/per-paper {res['ratio_summaries_vs_per_paper']:.2f}")
            print(f"  ratios ({res['kv']}, parallel {res['parallel']}, n_batch {res['n_batch']}, {res['quantization']}"
                  f"{', flash attn' if res['flash_attn'] else ''}): "
                  + "; ".join(parts))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\nresults: {args.out}")
    sys.exit(0)


if __name__ == "__main__":
    main()
