"""The embedded llama.cpp backend with the real SmolLM2-135M GGUF."""

from __future__ import annotations

import pytest

from semcse.config import SamplingConfig
from semcse.corpus import load_corpus
from semcse.summaries.backends.base import BackendError
from semcse.summaries.backends.llamacpp import LlamaCppBackend, _common_prefix_len
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
