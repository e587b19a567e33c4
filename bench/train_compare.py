"""Train several SemCSE variants on the same data and compare them with the base model.

    .venv/bin/python bench/train_compare.py --corpus ../shared/data/scitldr/train.jsonl \\
        --summaries ../shared/data/scitldr/train.jsonl --summaries /tmp/llm300 \\
        --steps 300 --out /tmp/compare \\
        --variant triplet-m0.5:loss=triplet,margin=0.5 --variant infonce:loss=infonce,negatives=batch-all

Every variant starts from the same base model, sees the same triplets (same seed) for the same
number of steps and is scored with ``bench/train_quality.py``'s development tasks (SciTLDR dev
title->abstract and TLDR->abstract, CSAbstruct dev halves; none of these papers is trained on).
Two models per variant are scored: the one ``semcse train`` selected on validation (what a user
gets; may be the base model) and the last checkpoint (what training itself did). Prints a table
and writes ``<out>/compare.json``. A finished variant is not trained again on a rerun.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import fields
from pathlib import Path
from statistics import geometric_mean

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from train_quality import DATA, dev_tasks, evaluate  # noqa: E402


def parse_variant(spec: str) -> tuple[str, dict]:
    """``NAME:key=value,key=value`` -> (name, overrides); values are JSON (numbers, true/false) or strings."""
    from semcse.config import TrainConfig

    name, _, opts = spec.partition(":")
    known = {f.name for f in fields(TrainConfig)}
    overrides: dict = {}
    for item in filter(None, opts.split(",")):
        key, _, value = item.partition("=")
        if key not in known:
            raise SystemExit(f"--variant {spec}: unknown option {key!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return name, overrides


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--summaries", action="append", required=True)
    ap.add_argument("--base-model", default=None, help="default: the offline all-MiniLM-L6-v2")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-seq-length", type=int, default=128)
    ap.add_argument("--eval-steps", type=int, default=None)
    ap.add_argument("--max-validation-papers", type=int, default=300)
    ap.add_argument("--variant", action="append", required=True, help="NAME:key=value,... (TrainConfig fields)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=str(DATA))
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("httpx", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from semcse.config import CorpusConfig, TrainConfig
    from semcse.pipeline import default_base_model
    from semcse.training import train

    base_model = args.base_model or default_base_model()
    common = TrainConfig(corpus=CorpusConfig(source=args.corpus), summaries=tuple(args.summaries), base_model=base_model,
                         max_steps=args.steps, batch_size=args.batch_size, max_seq_length=args.max_seq_length,
                         eval_steps=args.eval_steps or max(1, args.steps // 4), max_validation_papers=args.max_validation_papers,
                         save_total_limit=None, resume=True, progress=False)
    out = Path(args.out)
    tasks = dev_tasks(Path(args.data))
    pools = {name: len(q) for name, (q, _) in tasks.items()}
    previous = json.loads((out / "compare.json").read_text()).get("results", {}) if (out / "compare.json").exists() else {}
    results: dict[str, dict] = {"base": previous.get("base") or {"scores": evaluate(base_model, tasks, args.max_seq_length)}}
    print(f"base: {results['base']['scores']}", flush=True)
    for spec in args.variant:
        name, overrides = parse_variant(spec)
        if previous.get(name, {}).get("overrides") == overrides:  # trained and scored by an earlier invocation
            results[name] = previous[name]
            continue
        cfg = common.replace(out=str(out / name), **overrides)
        start = time.perf_counter()
        result = train(cfg)
        checkpoints = sorted((out / name / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        entry = {"overrides": overrides, "selected": result.selected, "train_s": round(time.perf_counter() - start, 1),
                 "validation_base": result.base_validation, "validation_final": result.final_validation,
                 "scores": evaluate(str(out / name), tasks, args.max_seq_length)}
        if checkpoints:
            entry["last_checkpoint"] = checkpoints[-1].name
            entry["last_scores"] = evaluate(str(checkpoints[-1]), tasks, args.max_seq_length)
        results[name] = entry
        print(f"{name}: selected {entry['selected']} {entry['scores']}; last {entry.get('last_scores')}", flush=True)
        (out / "compare.json").write_text(json.dumps({"pools": pools, "steps": args.steps, "batch_size": args.batch_size,
                                                      "results": {**previous, **results}}, indent=2))

    names = list(tasks)
    print(f"\n{args.steps} steps x {args.batch_size}; mean rank of the partner, lower is better; pools {pools}")
    print("| model | " + " | ".join(names) + " | geometric mean |")
    print("|" + "---|" * (len(names) + 2))
    base = results["base"]["scores"]

    def row(label: str, scores: dict) -> str:
        cells = [f"{scores[t]:.3f} ({100 * (scores[t] / base[t] - 1):+.1f}%)" for t in names]
        return f"| {label} | " + " | ".join(cells) + f" | {geometric_mean(scores[t] for t in names):.3f} |"

    for name, entry in results.items():
        if name == "base":
            print(row("base", entry["scores"]))
            continue
        print(row(f"{name} (selected: {entry['selected']})", entry["scores"]))
        if "last_scores" in entry:
            print(row(f"{name} ({entry['last_checkpoint']})", entry["last_scores"]))


if __name__ == "__main__":
    main()
