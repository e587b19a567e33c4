"""What one llama.cpp decode step costs on this machine, apart from semcse's scheduling (like llama.cpp's
``llama-batched-bench``, through the embedded engine's own context settings).

    .venv/bin/python bench/decode_step.py [--quantization as-shipped,q8_0] [--kv streams,unified]
        [--flash-attn off,on] [--sequences 1,2,4,8,16,32] [--context 320] [--steps 24] [--out step.json]

For each combination: B sequences each get their own ``--context``-token prompt (B x context prompt
tokens decoded first), then ``--steps`` generation steps decode one token of every sequence in one
``llama_decode`` call. Reported: milliseconds per step and generated tokens/s (B / step time), and the
prefill rate of 512 prompt tokens spread over 8 sequences (tokens/s, best of 3). The ratio of tokens/s at
B sequences to that at 1 is the most continuous batching can gain over one sequence at a time here: if a
step of 32 costs nearly 32 single steps, no scheduler can make generation much faster on this CPU.
Under ``perf record`` with a large ``--steps`` it shows where a step's time goes. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from summarize_speed import _list, _on_off, cpu_model  # noqa: E402


def _tokens(n: int, offset: int = 0) -> list[int]:
    """n ordinary vocabulary ids (no special tokens), different for each offset."""
    return [(i * 7919 + offset) % 40000 + 100 for i in range(n)]


def _fresh_context(engine, sequences: int, cells: int) -> None:
    """An empty context for ``sequences`` sequences of ``cells`` KV cells each (with streams one stream more,
    as the engine keeps for the shared prefix)."""
    n_seq = sequences if engine.kv_unified else sequences + 1
    engine._ensure_context(cells * n_seq, n_seq, engine.kv_unified)
    engine.ll.llama_memory_clear(engine._mem, True)


def step_cost(engine, sequences: int, context: int, steps: int) -> dict:
    """Milliseconds per generation step of ``sequences`` sequences after a ``context``-token prompt each."""
    _fresh_context(engine, sequences, 1024 if context + steps <= 1024 else context + steps + 256)
    for s in range(sequences):
        prompt = _tokens(context, s)
        for start in range(0, context, engine.n_batch):
            chunk = prompt[start:start + engine.n_batch]
            engine._decode_lists(chunk, list(range(start, start + len(chunk))), [(s,)] * len(chunk),
                                 [0] * (len(chunk) - 1) + [1], n_prompt=len(chunk))
    t0 = time.perf_counter()
    for k in range(steps):
        engine._decode_lists([1000 + k] * sequences, [context + k] * sequences, [(s,) for s in range(sequences)],
                             [1] * sequences)
    dt = (time.perf_counter() - t0) / steps
    return {"sequences": sequences, "ms_per_step": round(dt * 1000, 2), "tokens_per_s": round(sequences / dt, 1)}


def prefill_rate(engine, tokens: int = 512, sequences: int = 8) -> float:
    """Prompt tokens/s of one decode call holding ``tokens`` prompt tokens of ``sequences`` sequences (best of 3)."""
    per = tokens // sequences
    toks = _tokens(per * sequences)
    best = float("inf")
    for _ in range(3):
        _fresh_context(engine, sequences, 1024)
        t0 = time.perf_counter()
        engine._decode_lists(toks, [i % per for i in range(len(toks))], [(i // per,) for i in range(len(toks))],
                             [0] * len(toks), n_prompt=len(toks))
        best = min(best, time.perf_counter() - t0)
    return len(toks) / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--quantization", default="as-shipped,q8_0")
    ap.add_argument("--kv", default="streams", help="streams, unified, or both")
    ap.add_argument("--flash-attn", default="off,on", help="off, on, or both")
    ap.add_argument("--sequences", default="1,2,4,8,16,32")
    ap.add_argument("--context", type=int, default=320, help="prompt tokens of each sequence before the steps")
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    from semcse.summaries.backends.llamacpp import LlamaCppBackend

    report = {"cpu": cpu_model(), "cores": os.cpu_count(), "threads": args.threads, "context": args.context,
              "steps": args.steps, "results": []}
    print(f"CPU: {report['cpu']} ({os.cpu_count()} logical cores), {args.threads} threads; "
          f"{args.context}-token prompt per sequence, {args.steps} steps")
    sizes = _list(args.sequences, int)
    for quant, kv, fa in itertools.product(_list(args.quantization), _list(args.kv), [_on_off(x) for x in _list(args.flash_attn)]):
        engine = LlamaCppBackend(args.model, n_threads=args.threads, n_parallel=max(sizes), kv_unified=kv == "unified",
                                 quantization=quant, flash_attn=fa)
        try:
            rows = [step_cost(engine, b, args.context, args.steps) for b in sizes]
            prefill = prefill_rate(engine)
        finally:
            engine.close()
        one = rows[0]["tokens_per_s"] if rows[0]["sequences"] == 1 else None
        label = f"{quant}, {kv}, flash attn {'on' if fa else 'off'}"
        print(f"{label}: prefill {prefill:.0f} tok/s; generation " + ", ".join(
            f"{r['sequences']}: {r['tokens_per_s']:.0f} tok/s ({r['ms_per_step']:.0f} ms)" for r in rows)
              + (f"; {rows[-1]['sequences']} vs 1: {rows[-1]['tokens_per_s'] / one:.2f}x" if one else ""))
        report["results"].append({"quantization": quant, "kv": kv, "flash_attn": fa, "prefill_tokens_per_s": round(prefill),
                                  "steps": rows})
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"results: {args.out}")


if __name__ == "__main__":
    main()
