"""Sentence splitters on real abstracts: speed, and agreement with gold sentences and with each other.

    .venv/bin/python bench/sentence_splitters.py [--limit 3000] [--json out.json]

Gold: CSAbstruct and SciTLDR ship abstracts as human/author sentence lists; the splitters see the
joined text and are scored by exact match of the whole list and by boundary F1 (a boundary is the
character offset where a sentence ends). Medical abstracts and the SciRepEval sample have no gold
lists: there the two splitters are compared with each other (same list, same count).
Speed: milliseconds per abstract, one core.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEMCSE_DATA", REPO.parent / "shared" / "data"))
sys.path.insert(0, str(REPO / "src"))

from semcse.sentences import SPLITTERS, split_sentences  # noqa: E402


def gold_collections(limit: int) -> dict[str, list[list[str]]]:
    out = {}
    for name, path, field in (("csabstruct", DATA / "csabstruct" / "train.jsonl", "sentences"),
                              ("scitldr", DATA / "scitldr" / "train.jsonl", "source")):
        rows = [json.loads(line) for line in path.open()][:limit]
        out[name] = [[" ".join(s.split()) for s in r[field] if s.strip()] for r in rows]
    return out


def plain_collections(limit: int) -> dict[str, list[str]]:
    with (DATA / "medical_abstracts" / "medical_tc_test.csv").open(newline="") as fh:
        medical = [r["medical_abstract"] for r in csv.DictReader(fh)][:limit]
    scirepeval = [r["abstract"] for r in json.loads((DATA / "scirepeval_sample" / "fos_small.json").read_text()) if r.get("abstract")]
    return {"medical_abstracts": medical, "scirepeval_fos": scirepeval[:limit]}


def boundaries(sentences: list[str]) -> set[int]:
    ends, pos = set(), 0
    for s in sentences[:-1]:
        pos += len(s.replace(" ", ""))
        ends.add(pos)
    return ends


def score(gold: list[list[str]], predicted: list[list[str]]) -> dict[str, float]:
    tp = fp = fn = exact = 0
    for g, p in zip(gold, predicted):
        bg, bp = boundaries(g), boundaries(p)
        tp, fp, fn = tp + len(bg & bp), fp + len(bp - bg), fn + len(bg - bp)
        exact += [s.replace(" ", "") for s in g] == [s.replace(" ", "") for s in p]
    precision, recall = tp / max(1, tp + fp), tp / max(1, tp + fn)
    return {"exact_abstracts": round(exact / len(gold), 4), "boundary_precision": round(precision, 4),
            "boundary_recall": round(recall, 4), "boundary_f1": round(2 * precision * recall / max(1e-9, precision + recall), 4)}


def timed(splitter: str, texts: list[str]) -> tuple[list[list[str]], float]:
    start = time.perf_counter()
    out = [split_sentences(t, splitter) for t in texts]
    return out, (time.perf_counter() - start) * 1000 / max(1, len(texts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=3000, help="abstracts per collection")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    result: dict[str, dict] = {}
    for name, gold in gold_collections(args.limit).items():
        texts = [" ".join(g) for g in gold]
        result[name] = {"abstracts": len(texts)}
        for splitter in SPLITTERS:
            predicted, ms = timed(splitter, texts)
            result[name][splitter] = {**score(gold, predicted), "ms_per_abstract": round(ms, 4)}
    for name, texts in plain_collections(args.limit).items():
        (rules, ms_r), (pysbd, ms_p) = timed("rules", texts), timed("pysbd", texts)
        same = sum(a == b for a, b in zip(rules, pysbd)) / len(texts)
        count = sum(len(a) == len(b) for a, b in zip(rules, pysbd)) / len(texts)
        result[name] = {"abstracts": len(texts), "same_list": round(same, 4), "same_count": round(count, 4),
                        "rules_ms_per_abstract": round(ms_r, 4), "pysbd_ms_per_abstract": round(ms_p, 4),
                        "rules_vs_pysbd_boundary_f1": score(pysbd, rules)["boundary_f1"]}
    for name, r in result.items():
        print(name, json.dumps(r))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
