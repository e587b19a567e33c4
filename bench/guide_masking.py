"""How hard random in-batch negatives are for the base model: what a frozen-base GIST guide would mask.

    .venv/bin/python bench/guide_masking.py --corpus ../shared/data/scitldr/train.jsonl --corpus /tmp/medical/train.jsonl

For up to ``--papers`` random papers of each corpus with at least 4 abstract sentences: the anchor is
one sentence of the abstract's first half, the positive one sentence of its second half (a span
anchor of ``--span-anchors``), and batches of ``--batch-size`` such pairs are formed in random
order. Per anchor, the share of the batch's other positives that the base model puts closer to the
anchor than its own positive is the share GISTEmbedLoss with the frozen base as guide would mask;
a low share means the random negatives are easy for the base, and the batch teaches little.
Prints the mean positive similarity, the mean masked share and the share of anchors with more than
half of their candidates masked, per corpus and for title anchors too.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", action="append", required=True, help="a JSONL corpus (title, abstract or source)")
    ap.add_argument("--papers", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-seq-length", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from sentence_transformers import SentenceTransformer

    from semcse.pipeline import default_base_model
    from semcse.sentences import split_sentences

    model = SentenceTransformer(default_base_model(), device="cpu")
    model.max_seq_length = args.max_seq_length
    rng = np.random.default_rng(args.seed)
    bs = args.batch_size
    for path in args.corpus:
        rows = [json.loads(line) for line in open(path, encoding="utf-8")]
        pairs = []
        for i in rng.choice(len(rows), min(args.papers, len(rows)), replace=False):
            r = rows[i]
            abstract = r.get("abstract") or r.get("source")
            sentences = abstract if isinstance(abstract, list) else split_sentences(abstract)
            if len(sentences) < 4:
                continue
            half = len(sentences) // 2
            pairs.append((r["title"], sentences[rng.integers(0, half)], sentences[rng.integers(half, len(sentences))]))
        titles, anchors, positives = (model.encode([p[k] for p in pairs], normalize_embeddings=True, batch_size=32)
                                      for k in range(3))
        for kind, queries in (("span", anchors), ("title", titles)):
            masked = []
            for b in range(0, len(pairs) - bs + 1, bs):
                sims = queries[b:b + bs] @ positives[b:b + bs].T
                above = sims > np.diag(sims)[:, None]
                np.fill_diagonal(above, False)
                masked.append(above.sum(axis=1) / (bs - 1))
            shares = np.concatenate(masked)
            print(f"{path} {kind} anchors ({len(shares)}): mean positive similarity "
                  f"{np.mean(np.sum(queries * positives, axis=1)):.3f}, masked share {shares.mean():.3f}, "
                  f"anchors with over half masked {np.mean(shares > 0.5):.3f}")


if __name__ == "__main__":
    main()
