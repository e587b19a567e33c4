"""Summary generation speed on this machine: semcse's pipeline vs a naive baseline vs the decode ceiling.

    .venv/bin/python bench/summarize_speed.py [--papers 6] [--model GGUF] [--max-tokens 128]

(a) semcse: ``summarize()`` with the embedded llama.cpp backend (shared prefix, parallel samples);
(b) naive: one independent chat completion per summary on the same llama.cpp engine, KV cache
    cleared before each (no prefix reuse, no parallel samples); same prompts, sampling, stop
    strings and token limit;
(c) ceiling: the model's pure single-sequence decode speed (tokens/s after the prompt is in).
Targets: (a) >= 2x (b) in summaries/s; (a) generated tokens/s >= 0.8x (c).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEMCSE_DATA", REPO.parent / "shared" / "data"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--papers", type=int, default=6)
    ap.add_argument("--model", default=None)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--corpus", default=str(DATA / "scitldr" / "dev.jsonl"))
    args = ap.parse_args()

    from semcse.config import CorpusConfig, SamplingConfig, SummarizeConfig
    from semcse.corpus import load_corpus
    from semcse.summaries import load_prompt_set, summarize
    from semcse.summaries.backends.base import PaperJob
    from semcse.summaries.backends.llamacpp import LlamaCppBackend, default_gguf_path
    from semcse.summaries.generate import plan_jobs

    gguf = args.model or str(default_gguf_path())
    sampling = SamplingConfig(max_tokens=args.max_tokens)
    corpus = load_corpus(CorpusConfig(source=args.corpus, limit=args.papers))
    prompts = load_prompt_set()
    n_sum = len(corpus) * len(prompts.prompts) * prompts.samples
    print(f"model {Path(gguf).name}, {len(corpus)} papers x {len(prompts.prompts)} prompts x {prompts.samples} samples = {n_sum} summaries, "
          f"max_tokens {args.max_tokens}, {args.threads} threads")

    # (a) semcse
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SummarizeConfig(corpus=CorpusConfig(source=args.corpus, limit=args.papers), out=tmp, model=gguf,
                              sampling=sampling, n_threads=args.threads, progress=False)
        res = summarize(cfg, corpus=corpus)
    run = res.stats["this_run"]
    a_sps, a_tps = run["summaries_per_s"], run["tokens_per_s"]
    print(f"(a) semcse pipeline : {a_sps:7.2f} summaries/s  {a_tps:7.1f} generated tokens/s  ({run['elapsed_s']:.1f}s, incl. model load)")

    # (b) naive: one independent request per summary on the same llama.cpp engine, KV cache cleared
    # before each (no prefix reuse, no parallel samples)
    backend = LlamaCppBackend(gguf, n_threads=args.threads, n_parallel=1)
    jobs = plan_jobs(corpus.papers, prompts, prompts.samples, set())
    t0, tokens, count = time.perf_counter(), 0, 0
    for job in jobs:
        for req in job.requests:
            gen = backend.generate_paper(PaperJob(job.paper_id, [req]), sampling)[0]
            tokens += gen.tokens
            count += 1
    dt = time.perf_counter() - t0
    b_sps, b_tps = count / dt, tokens / dt
    print(f"(b) naive baseline  : {b_sps:7.2f} summaries/s  {b_tps:7.1f} generated tokens/s  ({dt:.1f}s)")

    # (c) decode ceiling: one sequence, prompt already in the cache, N tokens one by one (EOS ignored)
    ll = backend.ll
    ll.llama_memory_clear(ll.llama_get_memory(backend._ctx), True)
    prompt = backend.tokenize(backend.render(jobs[0].requests[0].messages))
    backend._decode([(t, i, [0], i == len(prompt) - 1) for i, t in enumerate(prompt)])
    sampler = backend._make_sampler(sampling, 1)
    n, pos, idx = 256, len(prompt), len(prompt) - 1
    t0 = time.perf_counter()
    for _ in range(n):
        tok = ll.llama_sampler_sample(sampler, backend._ctx, idx)
        backend._decode([(tok, pos, [0], True)])
        pos, idx = pos + 1, 0
    c_tps = n / (time.perf_counter() - t0)
    ll.llama_sampler_free(sampler)
    backend.close()
    print(f"(c) decode ceiling  : {c_tps:7.1f} tokens/s (single sequence, {n} tokens after a {len(prompt)}-token prompt)")
    print(f"ratios: summaries/s a/b = {a_sps / b_sps:.2f} (target >= 2.0); tokens/s a/c = {a_tps / c_tps:.2f} (target >= 0.8)")
    sys.exit(0)


if __name__ == "__main__":
    main()
