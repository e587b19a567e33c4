"""Summary quality of two summary runs of the same papers: the round-trip rank of each summary.

    .venv/bin/python bench/summary_roundtrip.py --corpus ../shared/data/scitldr/train.jsonl \\
        --summaries RUN_A --summaries RUN_B [--out roundtrip.json]

A summary's round-trip rank is the statistic of ``--filter-summaries``
(``semcse.training.summary_filter.own_abstract_ranks``): how many abstracts of the pool the base
encoder puts at least as close to the summary as the summary's own abstract (0 = its own abstract is
the nearest). Only the papers both runs summarised are compared, over the same pool (by default every
corpus abstract), and only the (paper, prompt, sample) keys both runs accepted are paired. Per run:
accepted share, mean and median rank, share at rank 0 and within the top 5, mean words; then the paired
difference of the mean rank with a 90% bootstrap interval over the paired keys. Use it to check that
an engine setting (quantisation, schedule) leaves summary quality where it was.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True, help="the corpus the runs summarised")
    ap.add_argument("--summaries", action="append", required=True, help="a summary run directory (give two)")
    ap.add_argument("--base-model", default=None, help="default: the offline all-MiniLM-L6-v2")
    ap.add_argument("--max-seq-length", type=int, default=256)
    ap.add_argument("--pool", choices=("common", "corpus"), default="corpus",
                    help="the abstracts a summary is ranked among: every corpus paper's (default) or only the compared papers'")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args()
    if len(args.summaries) != 2:
        ap.error("give exactly two --summaries runs")

    from sentence_transformers import SentenceTransformer

    from semcse.bootstrap import paired_change_interval
    from semcse.corpus import load_corpus
    from semcse.pipeline import default_base_model
    from semcse.summaries.store import SummaryStore
    from semcse.training.hard_negatives import encode_unit
    from semcse.training.summary_filter import own_abstract_ranks

    runs = [SummaryStore(p) for p in args.summaries]
    records = [run.records(status=None) for run in runs]
    papers_of = [{rec.paper_id for rec in recs} for recs in records]
    common = papers_of[0] & papers_of[1]
    if not common:
        raise SystemExit("the two runs share no paper")
    corpus = load_corpus(args.corpus, warn_each=False)
    papers = [p for p in corpus.papers if args.pool == "corpus" or p.id in common]
    index = {p.id: i for i, p in enumerate(papers)}
    model = SentenceTransformer(args.base_model or default_base_model(), device="cpu")
    model.max_seq_length = args.max_seq_length
    abstracts = encode_unit(model, [p.abstract for p in papers], 32, True)

    result: dict = {"cpu": platform.processor() or platform.machine(), "papers": len(common), "pool": len(papers), "runs": {}}
    ranks_by_key = []
    for path, recs in zip(args.summaries, records):
        recs = [r for r in recs if r.paper_id in common]
        ok = [r for r in recs if r.status == "ok"]
        emb = encode_unit(model, [r.text for r in ok], 32, True)
        ranks = own_abstract_ranks(emb, np.array([index[r.paper_id] for r in ok]), abstracts)
        ranks_by_key.append({r.key: int(k) for r, k in zip(ok, ranks)})
        result["runs"][path] = {
            "records": len(recs), "accepted": len(ok), "accepted_share": len(ok) / max(1, len(recs)),
            "mean_rank": float(np.mean(ranks)), "median_rank": float(np.median(ranks)),
            "rank0_share": float(np.mean(ranks == 0)), "top5_share": float(np.mean(ranks < 5)),
            "mean_words": float(np.mean([len(r.text.split()) for r in ok])),
        }
    keys = sorted(set(ranks_by_key[0]) & set(ranks_by_key[1]))
    a = np.array([ranks_by_key[0][k] for k in keys], dtype=float) + 1  # 1-based, so a relative change is defined
    b = np.array([ranks_by_key[1][k] for k in keys], dtype=float) + 1
    change, low, high = paired_change_interval(a, b, 0.9, 2000, 0)
    result["paired"] = {"keys": len(keys), "mean_rank_a": float(a.mean()), "mean_rank_b": float(b.mean()),
                        "change": change, "low": low, "high": high}
    for path, r in result["runs"].items():
        print(f"{path}: {r['accepted']}/{r['records']} accepted ({100 * r['accepted_share']:.1f}%), round-trip rank mean "
              f"{r['mean_rank']:.2f}, median {r['median_rank']:.0f}, rank 0 {100 * r['rank0_share']:.1f}%, "
              f"top 5 {100 * r['top5_share']:.1f}%, {r['mean_words']:.1f} words")
    p = result["paired"]
    print(f"paired over {p['keys']} keys (1-based mean rank, {len(papers)} abstracts): {p['mean_rank_a']:.2f} -> "
          f"{p['mean_rank_b']:.2f}, change {100 * change:+.1f}% [{100 * low:+.1f}%, {100 * high:+.1f}%] (90%)")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
