"""Continuous batching for the embedded llama.cpp engine: the requests of many papers planned into
groups and decoded together, a paper's shared prompt prefix once, new papers admitted as sequences
finish (the ``continuous`` schedule of :class:`~semcse.summaries.backends.llamacpp.LlamaCppBackend`)."""

from __future__ import annotations

import heapq
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from semcse.config import SamplingConfig
from semcse.hashing import stable_int
from semcse.summaries.backends.base import BackendError, Generation, PaperJob, Request

log = logging.getLogger(__name__)

_MIN_SHARED_PREFIX = 8  # a cross-paper prefix shorter than this is not worth a sequence of its own


# ---- planning ----------------------------------------------------------------------------------


def _common_prefix_len(seqs: list[list[int]]) -> int:
    n = min(len(s) for s in seqs)
    for i in range(n):
        t = seqs[0][i]
        if any(s[i] != t for s in seqs[1:]):
            return i
    return n


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


def plan_groups(toks: list[list[int]], max_seqs: int, capacity: int, max_tokens: int,
                shared: bool = True) -> tuple[list[tuple[list[int], int]], list[int]]:
    """Split one paper's requests (their prompt tokens, in order) into groups decoded together.

    ``shared`` (a unified KV cache): a group holds at most ``max_seqs`` requests whose shared prefix
    (once) plus every member's own prompt tokens and ``max_tokens`` fit ``capacity`` cells; its cost
    is that sum. Otherwise (one KV stream of ``capacity`` cells per sequence) groups are cut by
    ``max_seqs`` only, at cost 0. Returns ``([(request indices, cost)], misfits)``, misfits being the
    requests whose prompt plus ``max_tokens`` alone exceeds ``capacity``."""
    groups: list[tuple[list[int], int]] = []
    misfits: list[int] = []
    cur: list[int] = []
    p = own = 0  # shared prefix of the current group; its members' own tokens + max_tokens, over the group
    for i, t in enumerate(toks):
        if len(t) + max_tokens > capacity:
            misfits.append(i)
            continue
        if cur and len(cur) < max_seqs:
            if not shared:
                cur.append(i)
                continue
            p_new = min(p, _common_prefix_len([toks[cur[0]], t]))
            # shrinking the shared prefix moves (p - p_new) tokens into every member's own part
            own_new = own + (p - p_new) * len(cur) + len(t) - p_new + max_tokens
            if p_new + own_new <= capacity:
                cur.append(i)
                p, own = p_new, own_new
                continue
        if cur:
            groups.append((cur, p + own if shared else 0))
        cur, p, own = [i], len(t), max_tokens
    if cur:
        groups.append((cur, p + own if shared else 0))
    return groups, misfits


# ---- run state ---------------------------------------------------------------------------------


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
    index: int = -1  # the request's index in its paper (continuous schedule)
    group: "_Group | None" = None


@dataclass
class _Paper:
    job: PaperJob
    toks: list[list[int]]
    gens: list[Generation | None]
    open: int  # requests not finished yet
    groups: deque | None = None  # (request indices, KV cost) not admitted yet; None: not planned yet
    deferred: list[int] = field(default_factory=list)  # requests waiting for longer streams


@dataclass
class _Group:
    paper: _Paper
    open: int  # sequences still generating or waiting for their prompt
    shared_cost: int = 0  # KV cells (unified cache) released when the whole group is done


@dataclass
class _Span:
    """Prompt tokens waiting for a decode call: ``tokens[done:]`` at positions ``pos + done, ...``."""

    tokens: list[int]
    pos: int
    seq_ids: tuple[int, ...]
    starts: list[_Seq]  # sequences that sample their first token from the last token's logits
    then: Callable[[], None] | None = None  # runs once the last token is decoded
    done: int = 0


# ---- the run -----------------------------------------------------------------------------------


class _ContinuousRun:
    """One ``run()`` of the continuous schedule: admission, batched prefill, decode steps, completion.

    Sequence ids ``0 .. n_par-1`` serve the papers (lowest free first); id ``n_par`` holds the
    prefix every paper shares. Without a unified cache every id owns a KV stream, and llama.cpp
    splits a batch where the seq ids stop being consecutive: a free id inside the batch's range
    gets a throwaway token (removed after the call) so the generating sequences stay one ubatch.
    Requests too long for one stream wait for the end of the input, when the context is rebuilt
    with fewer, longer streams (the same cells) for them.

    ``engine``: the :class:`~semcse.summaries.backends.llamacpp.LlamaCppBackend` whose context,
    samplers and decode calls the run drives (not imported here: that module imports this one).
    """

    def __init__(self, engine, jobs: Iterable[PaperJob], sampling: SamplingConfig):
        self.e = engine
        self.ll = engine.ll
        self.sampling = sampling
        self.max_tokens = sampling.max_tokens
        self.unified = engine.kv_unified
        self.source = iter(jobs)
        self.exhausted = False
        self.ready: deque[_Paper] = deque()  # pulled papers with groups not admitted yet
        self.prefill: deque[_Span] = deque()  # prompt tokens waiting for a decode call, in order
        self.running: list[_Seq] = []  # sequences generating
        self.live: dict[int, _Seq] = {}  # admitted and not finished, by seq id (each holds a sampler)
        self.finished: list[_Paper] = []  # complete, to be yielded
        self.deferred: list[_Paper] = []  # papers with requests too long for the current streams
        self._setup(*engine._continuous_shape(self.max_tokens))

    def _setup(self, n_ctx: int, n_seq: int, unified: bool) -> None:
        e = self.e
        e._ensure_context(n_ctx, n_seq, unified)
        self.ll.llama_memory_clear(e._mem, False)
        self.mem = e._mem
        self.n_par = e.n_seq - 1
        self.reserved = self.n_par
        self.free = list(range(self.n_par))
        self.used = 0  # KV cells reserved by admitted groups (unified cache)
        self.shared: list[int] | None = None  # the cross-paper prefix held by the reserved sequence (None: not decided)

    # -- input ----------------------------------------------------------------------------------

    def _pull(self) -> bool:
        job = next(self.source, None)
        if job is None:
            self.exhausted = True
            return False
        e = self.e
        toks = [e.tokenize(e.render(r.messages)) for r in job.requests]
        self.ready.append(_Paper(job, toks, [None] * len(job.requests), len(job.requests)))
        return True

    def _capacity(self) -> int:
        return self.e.n_ctx - len(self.shared or ()) if self.unified else self.e.n_ctx_seq

    def _establish_shared_prefix(self) -> None:
        """Decode the prefix the first two papers share (chat template + system prompt) once, into the reserved sequence."""
        self.shared = []
        if not self.e.share_prefix:
            return
        while len(self.ready) < 2 and not self.exhausted:
            self._pull()
        firsts = [p.toks[0] for p in list(self.ready)[:2] if p.toks]
        if len(firsts) < 2:
            return
        g = firsts[0][: min(_common_prefix_len(firsts), min(len(t) for t in firsts) - 1)]
        if len(g) < _MIN_SHARED_PREFIX or len(g) + self.max_tokens > self._capacity():
            return
        e = self.e
        for start in range(0, len(g), e.n_batch):
            chunk = range(start, min(len(g), start + e.n_batch))
            e._decode_lists([g[i] for i in chunk], list(chunk), [(self.reserved,)] * len(chunk), [0] * len(chunk),
                            n_prompt=len(chunk))
        self.shared = g

    def _plan(self, paper: _Paper, indices: list[int] | None = None, final: bool = False) -> None:
        """Cut the paper's requests (``indices``: only these) into groups; errors for requests that never fit;
        requests too long for the current streams deferred (unless ``final``)."""
        e, max_tokens = self.e, self.max_tokens
        cap = self._capacity()
        fit, late = [], []
        for k in range(len(paper.toks)) if indices is None else indices:
            need = len(paper.toks[k]) + max_tokens
            if need <= cap:
                fit.append(k)
            elif not self.unified and not final and need <= e.max_seq_ctx:
                late.append(k)
            else:
                r = paper.job.requests[k]
                where = f"n_ctx={e.n_ctx}" if self.unified else f"the {e.max_seq_ctx} cells one sequence may use (n_ctx)"
                paper.gens[k] = Generation(r.prompt_id, r.sample, "", prompt_tokens=len(paper.toks[k]), finish_reason="error",
                                           extra={"error": f"prompt of {len(paper.toks[k])} tokens + {max_tokens} does not fit {where}"})
                paper.open -= 1
        groups, _ = plan_groups([paper.toks[k] for k in fit], self.n_par, cap, max_tokens, shared=self.unified)
        paper.groups = deque(([fit[i] for i in idx], cost) for idx, cost in groups)
        paper.deferred = late
        if late:
            self.deferred.append(paper)
            e.stats["deferred_requests"] += len(late)

    # -- admission ------------------------------------------------------------------------------

    def _admit_ready(self) -> None:
        while True:
            if not self.ready and (self.exhausted or not self._pull()):
                return
            if self.shared is None:
                self._establish_shared_prefix()
            paper = self.ready[0]
            if paper.groups is None:
                self._plan(paper)
            if not paper.groups:
                self.ready.popleft()
                if paper.open == 0:  # nothing fits: its errors are its result
                    self.finished.append(paper)
                continue
            idx, cost = paper.groups[0]
            if len(idx) > len(self.free):
                return
            toks = [paper.toks[k] for k in idx]
            p = _common_prefix_len(toks)
            if p == min(len(t) for t in toks):  # keep >= 1 own token per sequence for its logits
                p -= 1
            m = min(p, _common_prefix_len([self.shared, toks[0]])) if self.shared else 0
            if self.unified and self.used + cost - m > self._capacity():
                return
            paper.groups.popleft()
            if not paper.groups:
                self.ready.popleft()
            self._admit(paper, idx, toks, p, m, cost)

    def _admit(self, paper: _Paper, idx: list[int], toks: list[list[int]], p: int, m: int, cost: int) -> None:
        """Give a group sequence ids and samplers, and queue its prompt tokens."""
        ll, mem, sampling = self.ll, self.mem, self.sampling
        group = _Group(paper, len(idx))
        seqs = []
        for k, t in zip(idx, toks):
            r = paper.job.requests[k]
            s = _Seq(r, heapq.heappop(self.free), None, len(t), [], len(t), index=k, group=group)
            s.sampler = self.e._make_sampler(sampling, stable_int(sampling.seed, paper.job.paper_id, r.prompt_id, r.sample))
            self.live[s.seq_id] = s
            seqs.append(s)
        ids = tuple(s.seq_id for s in seqs)
        if self.unified:
            for sid in ids if m else ():  # lend the cross-paper prefix's cells: tags only, no copy
                ll.llama_memory_seq_cp(mem, self.reserved, sid, 0, m)
            if p > m:
                self.prefill.append(_Span(toks[0][m:p], m, ids, []))
            suffixes: dict[tuple[int, ...], list[_Seq]] = {}  # identical suffixes (samples of one prompt): once
            for s, t in zip(seqs, toks):
                suffixes.setdefault(tuple(t[p:]), []).append(s)
            for suffix, members in suffixes.items():
                self.prefill.append(_Span(list(suffix), p, tuple(s.seq_id for s in members), members))
            group.shared_cost = cost - m - len(idx) * self.max_tokens
            self.used += cost - m
            return
        # one stream per sequence: the first sequence's stream gets the prefix, then it is copied (whole streams)
        root = ids[0]
        if m:
            ll.llama_memory_seq_cp(mem, self.reserved, root, -1, -1)
            if m < len(self.shared):
                ll.llama_memory_seq_rm(mem, root, m, -1)
        if len(seqs) == 1:
            self.prefill.append(_Span(toks[0][m:], m, (root,), seqs))
            return
        own = [_Span(t[p:], p, (s.seq_id,), [s]) for s, t in zip(seqs, toks)]

        def copy_prefix() -> None:  # copies are applied in call order at the start of the next decode call
            for sid in ids[1:]:
                ll.llama_memory_seq_cp(mem, root, sid, -1, -1)
            self.prefill.extendleft(reversed(own))

        if p > m:
            self.prefill.append(_Span(toks[0][m:p], m, (root,), [], then=copy_prefix))
        else:
            copy_prefix()

    def _finish(self, s: _Seq) -> None:
        self.ll.llama_memory_seq_rm(self.mem, s.seq_id, -1, -1)
        self.ll.llama_sampler_free(self.live.pop(s.seq_id).sampler)
        s.sampler = None
        heapq.heappush(self.free, s.seq_id)
        self.e.stats["generated_tokens"] += len(s.tokens)
        group = s.group
        paper = group.paper
        paper.gens[s.index] = self.e._generation(s)
        group.open -= 1
        if self.unified:
            self.used -= self.max_tokens + (group.shared_cost if group.open == 0 else 0)
        paper.open -= 1
        if paper.open == 0:
            self.finished.append(paper)

    def _grow(self) -> None:
        """Rebuild the context with fewer, longer streams (the same cells) for the deferred requests."""
        e = self.e
        need = max(len(p.toks[k]) + self.max_tokens for p in self.deferred for k in p.deferred)
        per = min(_round_up(need, 256), max(e.max_seq_ctx, need))
        n_par = max(1, min(self.n_par, e.n_ctx // per - 1))
        log.info("%d requests need up to %d cells: %d sequences of %d cells for them",
                 sum(len(p.deferred) for p in self.deferred), need, n_par, per)
        self._setup((n_par + 1) * per, n_par + 1, False)
        papers, self.deferred = self.deferred, []
        for paper in papers:
            self._plan(paper, paper.deferred, final=True)
            self.ready.append(paper)

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> Iterator[tuple[PaperJob, list[Generation]]]:
        try:
            while True:
                self._admit_ready()
                while self.finished:
                    paper = self.finished.pop(0)
                    yield paper.job, paper.gens
                if not self.running and not self.prefill:
                    if self.ready or not self.exhausted:
                        raise BackendError("internal: a planned group does not fit an empty engine")
                    if not self.deferred:
                        break
                    self._grow()
                    continue
                self._step()
                while self.finished:
                    paper = self.finished.pop(0)
                    yield paper.job, paper.gens
        finally:
            for s in self.live.values():
                self.ll.llama_sampler_free(s.sampler)
                s.sampler = None
            self.live.clear()
            if self.e._ctx is not None and self.e._mem is self.mem:
                self.ll.llama_memory_clear(self.mem, False)

    def _take_prefill(self, room: int) -> tuple[list[int], list[int], list[tuple[int, ...]], list[int], list[tuple[_Span, int]]]:
        """Pending prompt tokens for one decode call, at most ``room``: (tokens, positions, seq ids, logits flags,
        completed spans with the index of their last token)."""
        toks: list[int] = []
        pos: list[int] = []
        seq_ids: list[tuple[int, ...]] = []
        logits: list[int] = []
        completed: list[tuple[_Span, int]] = []
        while self.prefill and room > 0:
            span = self.prefill[0]
            left = len(span.tokens) - span.done
            k = min(room, left)
            if not self.unified:
                # llama.cpp computes a 1-token piece of a prompt differently from a longer one (float rounding):
                # pieces of >= 2 tokens only, so a prompt decodes the same whatever shares the call
                k = min(k, self.e.n_ubatch)
                if left - k == 1:
                    k -= 1
                if k < 2 and left >= 2:
                    break
            end = span.done + k
            toks.extend(span.tokens[span.done:end])
            pos.extend(range(span.pos + span.done, span.pos + end))
            seq_ids.extend([span.seq_ids] * k)
            logits.extend([0] * k)
            span.done = end
            room -= k
            if end == len(span.tokens):
                self.prefill.popleft()
                if span.starts:
                    logits[-1] = 1
                completed.append((span, len(toks) - 1))
        return toks, pos, seq_ids, logits, completed

    def _start(self, completed: list[tuple[_Span, int]], index: list[int] | None = None) -> None:
        """Sample the first token of the sequences whose prompt is in; run the spans' follow-ups."""
        for span, last in completed:
            for s in span.starts:
                s.logit_idx = last if index is None else index[last]
                self.e._sample(s, self.sampling)
                self.running.append(s)
            if span.then is not None:
                span.then()

    def _step(self) -> None:
        """One step: a token of every generating sequence and up to n_batch pending prompt tokens. With a
        unified cache both go in one decode call; with one stream per sequence, prompt tokens go in a call of
        their own, each sequence's tokens in one piece, and the generating sequences in one more."""
        e, st = self.e, self.e.stats
        t_sample = 0.0
        if self.unified:
            running = self.running
            toks = [s.tokens[-1] for s in running]
            pos = [s.pos for s in running]
            seq_ids: list[tuple[int, ...]] = [(s.seq_id,) for s in running]
            logits = [1] * len(running)
            ptoks, ppos, pseq, plog, completed = self._take_prefill(e.n_batch - len(running))
            base = len(toks)
            e._decode_lists(toks + ptoks, pos + ppos, seq_ids + pseq, logits + plog, n_prompt=len(ptoks))
            st["seq_steps"] += len(running)
            t0 = time.perf_counter()
            for i, s in enumerate(running):
                s.pos += 1
                s.logit_idx = i
                e._sample(s, self.sampling)
            self._start([(span, base + last) for span, last in completed])
            t_sample += time.perf_counter() - t0
        else:
            if self.prefill:
                ptoks, ppos, pseq, plog, completed = self._take_prefill(e.n_batch)
                if ptoks:
                    # descending seq ids: llama.cpp then gives every sequence's piece a ubatch of its own
                    order = sorted(range(len(ptoks)), key=lambda i: (-pseq[i][0], ppos[i]))
                    index = [0] * len(order)
                    for new, old in enumerate(order):
                        index[old] = new
                    e._decode_lists([ptoks[i] for i in order], [ppos[i] for i in order], [pseq[i] for i in order],
                                    [plog[i] for i in order], n_prompt=len(ptoks))
                    t0 = time.perf_counter()
                    self._start(completed, index)
                    t_sample += time.perf_counter() - t0
            live = sorted((s for s in self.running if not s.done), key=lambda s: s.seq_id)
            if live:
                # a throwaway token in each free id between theirs keeps the ids consecutive: one ubatch, not several
                pads = [sid for sid in range(live[0].seq_id, live[-1].seq_id) if sid not in self.live]
                entries = sorted([(s.seq_id, s.tokens[-1], s.pos, 1) for s in live] + [(sid, live[0].tokens[-1], 0, 0) for sid in pads])
                e._decode_lists([x[1] for x in entries], [x[2] for x in entries], [(x[0],) for x in entries],
                                [x[3] for x in entries])
                for sid in pads:
                    self.ll.llama_memory_seq_rm(self.mem, sid, -1, -1)
                st["pad_tokens"] += len(pads)
                st["seq_steps"] += len(live)
                t0 = time.perf_counter()
                row = {x[0]: i for i, x in enumerate(entries)}
                for s in live:
                    s.pos += 1
                    s.logit_idx = row[s.seq_id]
                    e._sample(s, self.sampling)
                t_sample += time.perf_counter() - t0
        st["max_in_flight"] = max(st["max_in_flight"], len(self.live))
        t0 = time.perf_counter()
        still = []
        for s in self.running:
            if s.done:
                self._finish(s)
            else:
                still.append(s)
        self.running = still
        st["sample_s"] += t_sample + time.perf_counter() - t0
