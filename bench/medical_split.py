"""The in-domain medical regime: a training corpus of the medical abstracts that the
development tasks do not score on.

    .venv/bin/python bench/medical_split.py --out /tmp/medical   # writes /tmp/medical/train.jsonl

``bench/train_quality.medical_tasks`` scores on the first 1,000 rows of the medical CSV; this writes
the other rows (1,888 papers, about two thirds) as a corpus (id, title = first sentence, abstract =
the rest, label), drops any whose abstract also occurs among the scored rows, and says how many.
Then summarize and train on it, and score with ``bench/train_compare.py`` as usual:

    semcse summarize --corpus /tmp/medical/train.jsonl --max-prompts 2 --samples 1 --out /tmp/medical/summaries
    .venv/bin/python bench/train_compare.py --corpus /tmp/medical/train.jsonl --summaries /tmp/medical/summaries \\
        --variant default: --variant filter5:filter_summaries=5 --out /tmp/medical/compare

The file is derived data for a benchmark: keep it outside the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from train_quality import DATA

TEST_PAPERS = 1000  # medical_tasks' default: the rows the development tasks score on


def main() -> None:
    from semcse.sentences import split_sentences

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="a folder outside the repository")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--test-papers", type=int, default=TEST_PAPERS)
    args = ap.parse_args()
    source = Path(args.data) / "medical_abstracts" / "medical_tc_test.csv"
    with source.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    scored = {" ".join(r["medical_abstract"].split()) for r in rows[:args.test_papers]}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    kept = overlap = short = 0
    with (out / "train.jsonl").open("w", encoding="utf-8") as fh:
        for i, r in enumerate(rows[args.test_papers:], start=args.test_papers):
            if " ".join(r["medical_abstract"].split()) in scored:
                overlap += 1
                continue
            sentences = split_sentences(r["medical_abstract"])
            if len(sentences) < 3:  # as medical_tasks: a title and at least two sentences of abstract
                short += 1
                continue
            fh.write(json.dumps({"id": f"med-{i}", "title": sentences[0], "abstract": sentences[1:],
                                 "label": r["condition_label"]}, ensure_ascii=False) + "\n")
            kept += 1
    print(f"{out / 'train.jsonl'}: {kept} training papers (rows {args.test_papers}-{len(rows) - 1} of {source.name}); "
          f"dropped {overlap} whose abstract is among the {args.test_papers} scored rows, {short} with under 3 sentences")


if __name__ == "__main__":
    main()
