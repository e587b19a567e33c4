"""Does training help? Base vs trained models on a development check with the same pools.

    .venv/bin/python bench/train_quality.py --model NAME=PATH [--model NAME=PATH ...] [--data DIR]
                                            [--max-seq-length 256] [--json out.json]

Tasks (mean rank of the true partner among all candidates of the pool, 1-based, lower is better;
each model uses its own recorded similarity, via ``semcse.similarity.partner_ranks``):
  scitldr-dev title->abstract    (618 papers)
  scitldr-dev tldr->abstract     (first human TLDR of each paper)
  csabstruct-dev halves          (first half of an abstract ranks all second halves; 295 abstracts)
  scitldr-dev halves             (the same on SciTLDR dev abstracts: the training collection's own unseen papers)
and, cross-domain (``medical_tasks``), on the first 1,000 medical abstracts: title->abstract,
abstract halves and kNN label error (1 - share of the 10 nearest with the same condition label).
None of these papers is in the training data (SciTLDR *train*).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEMCSE_DATA", REPO.parent / "shared" / "data"))


def dev_tasks(data: Path) -> dict[str, tuple[list[str], list[str]]]:
    """In-domain (CS) development tasks: (queries, partners) per task."""
    from semcse.sentences import split_halves

    scitldr = [json.loads(line) for line in (data / "scitldr" / "dev.jsonl").open()]
    abstracts = [" ".join(r["source"]) for r in scitldr]
    csab = [json.loads(line) for line in (data / "csabstruct" / "dev.jsonl").open()]
    csab = [r["sentences"] for r in csab if len(r["sentences"]) >= 2]
    return {
        "scitldr-dev title->abstract": ([r["title"] for r in scitldr], abstracts),
        "scitldr-dev tldr->abstract": ([r["target"][0] for r in scitldr], abstracts),
        "csabstruct-dev halves": tuple(map(list, zip(*filter(None, map(split_halves, csab))))),
        "scitldr-dev halves": tuple(map(list, zip(*filter(None, (split_halves(r["source"]) for r in scitldr))))),
    }


def medical_tasks(data: Path, papers: int = 1000) -> dict[str, tuple[list, list]]:
    """Cross-domain (PubMed) tasks on the first ``papers`` medical abstracts (title = first sentence):
    title->abstract, abstract halves, and kNN label error (as (texts, labels); 1 - agreement, k = 10)."""
    import csv

    from semcse.sentences import split_halves, split_sentences

    with (data / "medical_abstracts" / "medical_tc_test.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:papers]
    split = [(split_sentences(r["medical_abstract"]), r["condition_label"]) for r in rows]
    split = [(s, label) for s, label in split if len(s) >= 3]
    bodies = [s[1:] for s, _ in split]
    return {
        "medical title->abstract": ([s[0] for s, _ in split], [" ".join(b) for b in bodies]),
        "medical halves": tuple(map(list, zip(*filter(None, map(split_halves, bodies))))),
        "medical kNN label error": ([" ".join(s) for s, _ in split], [label for _, label in split]),
    }


def is_label_task(name: str) -> bool:
    return "kNN" in name


def evaluate(path: str, tasks: dict, max_seq_length: int) -> dict[str, float]:
    """Mean partner rank per matching task, 1 - kNN label agreement per label task (all: lower is better)."""
    from sentence_transformers import SentenceTransformer
    from semcse.evaluation.metrics import knn_label_agreement
    from semcse.similarity import get_distance, partner_ranks

    model = SentenceTransformer(path, device=None).float()  # fp32 for every model, whatever its stored dtype
    model.max_seq_length = max_seq_length
    distance = get_distance(model.similarity_fn_name or "cosine")
    texts = sorted({t for name, (q, c) in tasks.items() for t in (q if is_label_task(name) else (*q, *c))}, key=len)
    vectors = model.encode(texts, batch_size=64, convert_to_numpy=True)
    index = {t: i for i, t in enumerate(texts)}
    out = {}
    for name, (queries, partners) in tasks.items():
        if is_label_task(name):
            out[name] = 1.0 - knn_label_agreement(vectors[[index[t] for t in queries]], partners, distance, k=10)
            continue
        ranks = partner_ranks(vectors[[index[t] for t in queries]], vectors[[index[t] for t in partners]], distance)
        out[name] = float(np.mean(ranks))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, help="NAME=PATH (repeatable)")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--max-seq-length", type=int, default=256)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tasks = dev_tasks(Path(args.data))
    pools = {name: len(q) for name, (q, _) in tasks.items()}
    results = {}
    for spec in args.model:
        name, _, path = spec.partition("=")
        start = time.perf_counter()
        results[name] = evaluate(path or name, tasks, args.max_seq_length)
        print(f"{name}: {results[name]} ({time.perf_counter() - start:.0f}s)", flush=True)
    header = "| model | " + " | ".join(f"{t} (N={pools[t]})" for t in tasks) + " | mean |"
    print(header)
    print("|" + "---|" * (len(tasks) + 2))
    for name, scores in results.items():
        print(f"| {name} | " + " | ".join(f"{scores[t]:.3f}" for t in tasks) + f" | {np.mean(list(scores.values())):.3f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"pools": pools, "max_seq_length": args.max_seq_length, "results": results}, indent=2))


if __name__ == "__main__":
    main()
