"""Paper scale on the data side: import, store count and the training data path, with peak memory.

    .venv/bin/python bench/scale.py --papers 20000 [--papers 100000] [--work DIR] [--json out.json]

Builds a synthetic corpus of N papers x 15 summaries from the SciTLDR abstracts in the shared data
(new ids; each paper's sentences shuffled; summaries = the TLDR and recombined sentences, so texts
differ per paper), then measures, each in its own process (wall time and that process's peak RSS):
  import      semcse summarize import of the N x 15 summaries into a store
  count       open the store and count its records
  data-first  training data side, first start: read corpus + store, split sentences, match, split
              papers, write the prepared cache, draw epoch 0's triplets and materialise the first batch
  data-resume the same with the cache in place (a --resume, a rerun, every DDP rank)
and prints a linear extrapolation to 350,000 papers (time and memory scale with N: the figure at
N2 plus the slope between N1 and N2 when two sizes are given, else proportional).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEMCSE_DATA", REPO.parent / "shared" / "data"))
TARGET = 350_000
SUMMARIES = 15

DATA_SIDE = r"""
import sys, time, json
from semcse.config import CorpusConfig, TrainConfig
from semcse.training.trainer import prepare_data, build_train_dataset
corpus, store, out = sys.argv[1:4]
start = time.perf_counter()
cfg = TrainConfig(corpus=CorpusConfig(source=corpus), summaries=(store,), out=out, base_model="unused", batch_size=64)
data = prepare_data(cfg)
dataset, mix = build_train_dataset(data.builder, 1)
kinds, lengths = data.builder.kinds_and_lengths(0)
first = dataset[list(range(64))]
assert len(first["anchor"]) == 64 and all(first["anchor"])
print(json.dumps({"triplets_per_epoch": len(dataset), "train_papers": len(data.train_papers),
                  "seconds": time.perf_counter() - start}))
"""


def make_corpus(n: int, work: Path) -> tuple[Path, Path]:
    rows = [json.loads(line) for line in (DATA / "scitldr" / "train.jsonl").open()]
    rng = random.Random(0)
    corpus, summaries = work / "corpus.jsonl", work / "summaries.jsonl"
    with corpus.open("w") as fc, summaries.open("w") as fs:
        for i in range(n):
            r = rows[i % len(rows)]
            sents = list(r["source"])
            rng.shuffle(sents)
            pid = f"syn{i:07d}"
            fc.write(json.dumps({"paper_id": pid, "title": r.get("title") or sents[0][:80], "abstract": " ".join(sents)}) + "\n")
            texts = [r["target"][0]] + [" ".join(rng.sample(sents, min(2, len(sents)))) + f" ({k})" for k in range(SUMMARIES - 1)]
            fs.write(json.dumps({"id": pid, "summaries": texts}) + "\n")
    return corpus, summaries


def measure_rss(cmd: list[str]) -> dict:
    start = time.perf_counter()
    with tempfile.TemporaryFile() as errfile:  # a file, not a pipe: a chatty stderr cannot block the child
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errfile,
                                env={**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"})
        out = proc.stdout.read().decode()
        _, status, usage = os.wait4(proc.pid, 0)
        errfile.seek(0)
        err = errfile.read().decode(errors="replace")
    if status:
        raise SystemExit(f"{' '.join(map(str, cmd[:5]))} failed ({status}):\n{err[-3000:]}")
    return {"seconds": round(time.perf_counter() - start, 1), "peak_rss_gb": round(usage.ru_maxrss / 1e6, 2),
            "output": out.strip().splitlines()[-1] if out.strip() else ""}


def run(n: int, work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    corpus, summaries = make_corpus(n, work)
    print(f"N={n}: synthetic corpus and summaries written in {time.perf_counter() - t:.1f} s", flush=True)
    semcse = [sys.executable, "-m", "semcse"]
    store, out = work / "store", work / "train-out"
    result = {"papers": n, "summaries": n * SUMMARIES}
    result["import"] = measure_rss(semcse + ["summarize", "import", str(summaries), "--out", str(store)])
    result["count"] = measure_rss([sys.executable, "-c", "import sys; from semcse.summaries.store import SummaryStore; "
                                   "print(len(SummaryStore(sys.argv[1])))", str(store)])
    result["data_first"] = measure_rss([sys.executable, "-c", DATA_SIDE, str(corpus), str(store), str(out)])
    result["data_resume"] = measure_rss([sys.executable, "-c", DATA_SIDE, str(corpus), str(store), str(out)])
    for k in ("import", "count", "data_first", "data_resume"):
        print(f"N={n} {k:12s} {result[k]['seconds']:8.1f} s  peak RSS {result[k]['peak_rss_gb']:5.2f} GB  {result[k]['output'][:120]}", flush=True)
    return result


def extrapolate(results: list[dict]) -> dict:
    """Linear in N: through the two largest sizes if there are two, else proportional to the one."""
    out = {}
    for k in ("import", "count", "data_first", "data_resume"):
        for metric in ("seconds", "peak_rss_gb"):
            if len(results) >= 2:
                a, b = results[-2], results[-1]
                slope = (b[k][metric] - a[k][metric]) / (b["papers"] - a["papers"])
                value = b[k][metric] + slope * (TARGET - b["papers"])
            else:
                value = results[-1][k][metric] * TARGET / results[-1]["papers"]
            out.setdefault(k, {})[metric] = round(value, 1 if metric == "seconds" else 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--papers", type=int, action="append", help="corpus sizes (repeatable; default 20000)")
    ap.add_argument("--work", type=Path, help="working directory (default: a temporary one, removed)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    sizes = sorted(args.papers or [20000])
    with tempfile.TemporaryDirectory(prefix="semcse-scale-") as tmp:
        work = args.work or Path(tmp)
        results = [run(n, work / f"n{n}") for n in sizes]
    est = extrapolate(results)
    print(f"extrapolated to {TARGET} papers x {SUMMARIES} summaries ({'linear through the two largest sizes' if len(results) > 1 else 'proportional'}):")
    for k, v in est.items():
        print(f"  {k:12s} {v['seconds'] / 60:6.1f} min  peak RSS {v['peak_rss_gb']:5.2f} GB")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "extrapolated_350k": est}, indent=2))


if __name__ == "__main__":
    main()
