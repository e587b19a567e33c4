"""The embedded llama.cpp backend with the real SmolLM2-135M GGUF."""

from __future__ import annotations

import pytest

from semcse.config import SamplingConfig
from semcse.corpus import load_corpus
from semcse.summaries.backends.base import BackendError
from semcse.summaries.backends.llamacpp import LlamaCppBackend
from semcse.summaries.backends.llamacpp_continuous import _common_prefix_len
from semcse.summaries.generate import plan_jobs
from semcse.summaries.prompts import load_prompt_set


@pytest.fixture(scope="module")
def backend(llama_engine):
    b = LlamaCppBackend(n_parallel=6)
    yield b
    b.close()


@pytest.fixture(scope="module")
def job(data_root):
    corpus = load_corpus(data_root / "scitldr" / "dev.jsonl", limit=1)
    return plan_jobs(corpus.papers, load_prompt_set().head(2), 3, set())[0]


def test_shared_prefix_covers_the_paper(backend, job):
    toks = [backend.tokenize(backend.render(r.messages)) for r in job.requests]
    p = _common_prefix_len(toks)
    abstract_tokens = len(backend.tokenize(job.requests[0].messages[-1]["content"]))
    assert p > 0.8 * abstract_tokens  # system prompt + title + abstract are decoded once


def test_parallel_samples_are_distinct_and_reproducible(backend, job):
    sampling = SamplingConfig(max_tokens=24, seed=7)
    gens = backend.generate_paper(job, sampling)
    assert [(g.prompt_id, g.sample) for g in gens] == [(r.prompt_id, r.sample) for r in job.requests]
    assert all(0 < g.tokens <= 24 and g.text.strip() for g in gens)
    same_prompt = [g.text for g in gens if g.prompt_id == job.requests[0].prompt_id]
    assert len(set(same_prompt)) > 1  # samples of one prompt differ (own seeds)
    again = backend.generate_paper(job, sampling)
    assert [g.text for g in again] == [g.text for g in gens]  # seeded per (paper, prompt, sample)


def test_stop_string_and_greedy(backend, job):
    req = job.requests[0]
    req2 = type(req)(req.prompt_id, 0, req.messages, stop=(" ",))
    g = backend.generate_paper(type(job)(job.paper_id, [req2]), SamplingConfig(temperature=0, max_tokens=20))[0]
    assert " " not in g.text.strip() and g.finish_reason == "stop"


def test_context_too_small_marks_request_as_error(job, llama_engine):
    b = LlamaCppBackend(n_ctx=128, n_parallel=2)
    try:
        gens = b.generate_paper(job, SamplingConfig(max_tokens=16))
    finally:
        b.close()
    assert all(g.finish_reason == "error" and "does not fit" in g.extra["error"] for g in gens)


def test_missing_model_file(tmp_path):
    with pytest.raises(BackendError, match="not found"):
        LlamaCppBackend(tmp_path / "missing.gguf")


# ---- continuous batching across papers ------------------------------------------------------------


@pytest.fixture(scope="module")
def papers(data_root):
    return load_corpus(data_root / "scitldr" / "dev.jsonl", limit=9).papers


@pytest.fixture(scope="module")
def engine(llama_engine):
    b = LlamaCppBackend(n_parallel=5, flash_attn=False)  # texts independent of the batch
    yield b
    b.close()


def _texts(results) -> dict[str, list[tuple[str, int, str]]]:
    return {job.paper_id: [(g.prompt_id, g.sample, g.text) for g in gens] for job, gens in results}


@pytest.mark.parametrize("kv_unified", [False, True], ids=["streams", "unified"])
def test_more_requests_than_sequences_each_get_one_generation_and_each_paper_comes_once(papers, kv_unified, llama_engine):
    prompts = load_prompt_set()
    jobs = list(plan_jobs(papers[:5], prompts.head(2), 1, set())) + list(plan_jobs(papers[5:6], prompts.head(2), 3, set()))
    b = LlamaCppBackend(n_parallel=5, kv_unified=kv_unified)  # 16 requests, 5 sequences; the last paper's 6 in two groups
    try:
        results = list(b.run(jobs, SamplingConfig(max_tokens=8, seed=1)))
    finally:
        b.close()
    assert sorted(job.paper_id for job, _ in results) == sorted(job.paper_id for job in jobs)  # each paper once, complete
    for job, gens in results:
        assert [(g.prompt_id, g.sample) for g in gens] == [(r.prompt_id, r.sample) for r in job.requests]
        assert all(g.finish_reason in ("stop", "length") and 0 < g.tokens <= 8 and g.prompt_tokens > 100 for g in gens)
    assert b.stats["max_in_flight"] == 5 and b.stats["generated_tokens"] == sum(g.tokens for _, gens in results for g in gens)
    assert b.stats["prompt_tokens"] > 0 and b.stats["prefill_s"] > 0 and b.stats["gen_s"] > 0


@pytest.mark.parametrize("temperature", [0.0, 0.8], ids=["greedy", "sampled"])
def test_a_paper_gets_the_same_texts_alone_and_among_others(engine, papers, temperature):
    jobs = list(plan_jobs(papers[:4], load_prompt_set().head(2), 1, set()))
    sampling = SamplingConfig(max_tokens=12, temperature=temperature, seed=5)
    together = _texts(engine.run(jobs, sampling))
    alone = _texts(r for job in jobs for r in engine.run([job], sampling))
    assert together == alone  # one KV stream per sequence: other papers in the batch change nothing
    if temperature:
        assert _texts(engine.run(jobs[::-1], sampling)) == together  # nor their order


def test_flash_attention_the_default_gives_the_same_model_up_to_rounding(engine, papers):
    jobs = list(plan_jobs(papers[:4], load_prompt_set().head(2), 1, set()))
    greedy = SamplingConfig(max_tokens=12, temperature=0.0, seed=5)
    fa = LlamaCppBackend(n_parallel=5)  # flash attention: the continuous default
    try:
        fast = _texts(fa.run(jobs, greedy))
    finally:
        fa.close()
    plain = _texts(engine.run(jobs, greedy))
    assert fast.keys() == plain.keys() and all(len(fast[k]) == 2 for k in fast)
    pairs = [(a[2], b[2]) for k in plain for a, b in zip(plain[k], fast[k])]
    assert all(text.strip() for _, text in pairs)
    # rounding may change a late token, never the start of most greedy texts
    assert sum(a.split()[:3] == b.split()[:3] for a, b in pairs) >= len(pairs) // 2


def test_stop_strings_and_the_token_limit(engine, papers):
    job = list(plan_jobs(papers[:1], load_prompt_set().head(2), 1, set()))[0]
    first, second = job.requests
    stopped = type(first)(first.prompt_id, 0, first.messages, stop=(" ",))
    limited = type(second)(second.prompt_id, 0, second.messages, stop=())
    other = list(plan_jobs(papers[1:2], load_prompt_set().head(2), 1, set()))[0]
    results = dict((j.paper_id, gens) for j, gens in engine.run([type(job)(job.paper_id, [stopped, limited]), other],
                                                                SamplingConfig(temperature=0, max_tokens=6)))
    g_stop, g_len = results[job.paper_id]
    assert g_stop.finish_reason == "stop" and g_stop.text.strip() and " " not in g_stop.text.strip()
    assert g_len.finish_reason == "length" and g_len.tokens == 6
    assert len(results[other.paper_id]) == 2


@pytest.mark.parametrize("kv_unified", [False, True], ids=["streams", "unified"])
def test_a_prompt_too_long_is_an_error_while_the_others_complete(papers, kv_unified, llama_engine):
    jobs = list(plan_jobs([papers[2], papers[8]], load_prompt_set().head(2), 1, set()))  # prompts of ~190 and ~430 tokens
    req = jobs[0].requests[0]
    huge = type(req)(req.prompt_id, 1, [req.messages[0], {"role": "user", "content": req.messages[1]["content"] * 8}], req.stop)
    jobs[0] = type(jobs[0])(jobs[0].paper_id, jobs[0].requests + [huge])
    b = LlamaCppBackend(n_ctx=1024, n_parallel=2, kv_unified=kv_unified)  # streams: 3 x 256 cells at first
    try:
        results = dict((j.paper_id, gens) for j, gens in b.run(jobs, SamplingConfig(max_tokens=8)))
        deferred = b.stats["deferred_requests"]
    finally:
        b.close()
    *fine, error = results[jobs[0].paper_id]
    assert error.finish_reason == "error" and "does not fit" in error.extra["error"] and error.sample == 1
    fine += results[jobs[1].paper_id]
    assert len(fine) == 4 and all(g.finish_reason in ("stop", "length") and g.tokens > 0 for g in fine)
    if not kv_unified:  # the ~430-token prompts waited for the end, then ran in fewer, longer streams
        assert deferred >= 1


def test_per_paper_schedule_runs_in_order(papers, llama_engine):
    jobs = list(plan_jobs(papers[:2], load_prompt_set().head(1), 2, set()))
    b = LlamaCppBackend(schedule="per-paper", n_parallel=2)
    try:
        results = list(b.run(jobs, SamplingConfig(max_tokens=6, seed=2)))
    finally:
        b.close()
    assert [j.paper_id for j, _ in results] == [j.paper_id for j in jobs] and all(len(g) == 2 for _, g in results)


def test_the_isolated_engine_streams_papers_to_the_continuous_engine(engine, papers):
    from semcse.summaries.backends.isolated import IsolatedBackend

    jobs = list(plan_jobs(papers[:4], load_prompt_set().head(2), 1, set()))
    sampling = SamplingConfig(max_tokens=8, seed=4)
    isolated = IsolatedBackend(LlamaCppBackend, n_parallel=5, flash_attn=False)  # as the in-process engine
    try:
        assert isolated.job_window == 8  # the papers the engine wants at once (n_parallel + 3)
        got = _texts(isolated.run(jobs, sampling))
        stats = isolated.stats
        again = _texts(isolated.run(jobs[:1], sampling))  # a second run on the same child
    finally:
        isolated.close()
    assert got == _texts(engine.run(jobs, sampling)) and again == {k: got[k] for k in again}
    assert stats["generated_tokens"] > 0 and stats["max_in_flight"] == 4
