"""Train SemCSE variants over several seeds and compare them with the base model on unseen papers.

    .venv/bin/python bench/train_compare.py --corpus ../shared/data/scitldr/train.jsonl \\
        --summaries ../shared/data/scitldr/train.jsonl --steps 240 --seeds 0,1,2 --out /tmp/compare \\
        --variant default: --variant infonce:loss=infonce

Every variant starts from the same base model and trains ``--steps`` steps per seed (the seed sets
the train/validation split, the triplets and the initialisation of the run). Each run keeps every
checkpoint, so three models per run are scored on the development tasks of
``bench/train_quality.py`` (in-domain: SciTLDR dev title->abstract and TLDR->abstract, CSAbstruct
dev halves; cross-domain: medical abstracts title->abstract, halves, kNN label error; none of these
papers is trained on):
  selected   what ``semcse train`` hands over (Pareto-safe selection, weight interpolation);
  old-rule   the candidate the previous rule took: lowest geometric mean of the validation mean
             ranks over the base and every checkpoint, no per-task check;
  last       the last checkpoint (what training itself did).
Prints per-task mean and [min, max] over seeds, with the change vs the base, and writes
``<out>/compare.json``. A finished (variant, seed) run is reused on a rerun; ``--interpolations``
and tasks not yet scored for it are scored then on its saved models (``--rescore``: for every run
in ``compare.json``, training nothing). ``--soups 1,0.5`` also scores each variant's seed soup (the
uniform average of its seeds' last checkpoints, mixed with the base at each weight).
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

from train_quality import DATA, dev_tasks, evaluate, medical_tasks  # noqa: E402

from semcse.training.checkpoints import RESULT_FILE  # noqa: E402


def parse_variant(spec: str) -> tuple[str, dict]:
    """``NAME:key=value,key=value`` -> (name, overrides); values are JSON (numbers, true/false) or strings,
    ``summaries=A+B`` the variant's own summary sources (instead of ``--summaries``)."""
    from semcse.config import TrainConfig

    name, _, opts = spec.partition(":")
    known = {f.name for f in fields(TrainConfig)}
    overrides: dict = {}
    for item in filter(None, opts.split(",")):
        key, _, value = item.partition("=")
        if key not in known:
            raise SystemExit(f"--variant {spec}: unknown option {key!r}")
        if key == "summaries":  # summaries=RUN_A+RUN_B: this variant's own summary sources (a list, as in compare.json)
            overrides[key] = value.split("+")
            continue
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
    ap.add_argument("--steps", type=int, default=240)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-seq-length", type=int, default=128)
    ap.add_argument("--eval-steps", type=int, default=None)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--no-cross-domain", action="store_true", help="skip the medical tasks")
    ap.add_argument("--variant", action="append", default=[], help="NAME:key=value,... (TrainConfig fields)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--deadline-s", type=float, default=None,
                    help="start no new run that would end after this many seconds (judged by the longest run so far)")
    ap.add_argument("--picks", default="selected,old-rule,last",
                    help="which models of each run to score on the development tasks (selected, old-rule, last)")
    ap.add_argument("--interpolations", default="", help="also score (1-a)*base + a*last checkpoint for these a, e.g. 0.5")
    ap.add_argument("--soups", default="", help="also score seed soups: the uniform average of the seeds' last checkpoints, "
                    "mixed with the base at these weights a ((1-a)*base + a*soup), e.g. 1,0.5")
    ap.add_argument("--rescore", action="store_true",
                    help="train nothing: score the tasks missing from <out>/compare.json on every model still saved")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for noisy in ("httpx", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from semcse.config import CorpusConfig, TrainConfig
    from semcse.pipeline import default_base_model
    from semcse.training import train

    t_start = time.perf_counter()
    base_model = args.base_model or default_base_model()
    common = TrainConfig(corpus=CorpusConfig(source=args.corpus), summaries=tuple(args.summaries), base_model=base_model,
                         max_steps=args.steps, batch_size=args.batch_size, max_seq_length=args.max_seq_length,
                         eval_steps=args.eval_steps or max(1, args.steps // 8), precision=args.precision,
                         save_total_limit=None, keep_checkpoints=True, resume=True, progress=False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = dev_tasks(Path(args.data))
    if not args.no_cross_domain:
        tasks.update(medical_tasks(Path(args.data)))
    pools = {name: len(q) for name, (q, _) in tasks.items()}
    saved = out / "compare.json"
    previous = json.loads(saved.read_text()).get("results", {}) if saved.exists() else {}
    results: dict[str, dict] = {"base": previous.get("base") or {"scores": evaluate(base_model, tasks, args.max_seq_length)}}

    def save() -> None:
        saved.write_text(json.dumps({"pools": pools, "steps": args.steps, "batch_size": args.batch_size,
                                     "results": results}, indent=2))

    fill_missing_scores({"base": results["base"]}, out, tasks, base_model, args.max_seq_length, save)  # a new task
    print(f"base: {results['base']['scores']}", flush=True)
    results.update({k: v for k, v in previous.items() if k != "base"})  # other variants and seeds stay in compare.json
    if not args.rescore and not args.variant:
        raise SystemExit("give at least one --variant (or --rescore)")
    seeds = [int(x) for x in args.seeds.split(",")]
    alphas = [float(a) for a in args.interpolations.split(",") if a]
    longest = 0.0  # seconds of the longest run so far (train + scoring)
    for spec in args.variant:
        name, overrides = parse_variant(spec)
        if results.get(name, {}).get("overrides") != overrides:  # a changed recipe starts afresh
            results[name] = {"overrides": overrides, "runs": {}}
        runs = results[name]["runs"]
        for seed in seeds:
            old = previous.get(name, {}).get("runs", {}).get(str(seed))
            run_dir = out / f"{name}-seed{seed}"
            if old and previous[name].get("overrides") == overrides:
                runs[str(seed)] = old
            elif args.deadline_s and time.perf_counter() - t_start + longest > args.deadline_s:
                print(f"deadline: {name} seed {seed} not run", flush=True)
                continue
            else:
                start = time.perf_counter()
                options = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
                result = train(common.replace(out=str(run_dir), seed=seed, **options))
                runs[str(seed)] = score_run(run_dir, result, tasks, args.max_seq_length, time.perf_counter() - start,
                                            results["base"]["scores"], picks=set(args.picks.split(",")))
                longest = max(longest, time.perf_counter() - start)
                print(f"{name} seed {seed}: selected {result.selected}; old rule {runs[str(seed)]['old_rule']}", flush=True)
            scores = runs[str(seed)]["scores"]
            for alpha in (a for a in alphas if f"wise-{a:g}" not in scores and (run_dir / RESULT_FILE).exists()):
                scores[f"wise-{alpha:g}"] = score_interpolation(run_dir, alpha, tasks, args.max_seq_length)
            save()
    soup_weights = [float(a) for a in args.soups.split(",") if a]
    for name, entry in ((n, e) for n, e in results.items() if n != "base" and soup_weights):
        for weight in (w for w in soup_weights if f"soup-{w:g}" not in entry.get("soups", {})):
            scores = score_soup(out, name, entry["runs"], weight, tasks, args.max_seq_length)
            if scores is not None:
                entry.setdefault("soups", {})[f"soup-{weight:g}"] = scores
                save()
    fill_missing_scores(results, out, tasks, base_model, args.max_seq_length, save)
    save()
    print(table(results, list(tasks), pools, args))


def score_run(run_dir: Path, result, tasks: dict, max_seq_length: int, seconds: float, base_scores: dict,
              picks: set[str] = frozenset({"selected", "old-rule", "last"})) -> dict:
    """Dev scores of the selected model, the old rule's pick and the last checkpoint of one run (those in ``picks``)."""
    candidates = result.metrics["selection"]["candidates"]
    scored = [c for c in candidates if not c["name"].startswith("interpolation")]
    old_rule = min(scored, key=lambda c: c["validation"]["mean_rank"])["name"]  # lowest all-task geometric mean
    checkpoints = sorted((run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
    entry = {"selected": result.selected, "old_rule": old_rule, "train_s": round(seconds, 1),
             "candidates": [{k: c[k] for k in ("name", "score", "eligible", "blocked_by")} for c in candidates],
             "scores": {}}
    if "selected" in picks:
        entry["scores"]["selected"] = evaluate(str(run_dir), tasks, max_seq_length)
    if "old-rule" in picks:
        entry["scores"]["old-rule"] = (base_scores if old_rule == "base" else
                                       evaluate(str(run_dir / "checkpoints" / old_rule), tasks, max_seq_length))
    if checkpoints and "last" in picks:
        entry["last_checkpoint"] = checkpoints[-1].name
        entry["scores"]["last"] = evaluate(str(checkpoints[-1]), tasks, max_seq_length)
    return entry


def pick_model(run_dir: Path, run: dict, pick: str) -> Path | None:
    """The saved model behind one scored pick of a run, or None when it is no longer on disk."""
    if pick == "selected":
        path = run_dir
    elif pick == "old-rule":
        path = run_dir / "checkpoints" / run["old_rule"]
    elif pick == "last":
        path = run_dir / "checkpoints" / run["last_checkpoint"] if "last_checkpoint" in run else None
    else:  # wise-<alpha>
        path = run_dir / pick
    return path if path and (path / "modules.json").exists() else None


def fill_missing_scores(results: dict, out: Path, tasks: dict, base_model: str, max_seq_length: int, save) -> None:
    """Score the tasks a saved result lacks (a task added since it was scored), on the model still on disk."""
    base = results["base"]["scores"]
    missing = [t for t in tasks if t not in base]
    if missing:
        base.update(evaluate(base_model, {t: tasks[t] for t in missing}, max_seq_length))
        save()
    for name, entry in results.items():
        for seed, run in ({} if name == "base" else entry["runs"]).items():
            for pick, scores in run["scores"].items():
                missing = [t for t in tasks if t not in scores]
                if not missing:
                    continue
                if pick == "old-rule" and run["old_rule"] == "base":
                    scores.update({t: base[t] for t in missing})
                    continue
                path = pick_model(out / f"{name}-seed{seed}", run, pick)
                if path is None:
                    print(f"{name} seed {seed} {pick}: model gone, {', '.join(missing)} not scored", flush=True)
                    continue
                scores.update(evaluate(str(path), {t: tasks[t] for t in missing}, max_seq_length))
                save()


def score_interpolation(run_dir: Path, alpha: float, tasks: dict, max_seq_length: int) -> dict:
    """Dev scores of (1 - alpha) * base + alpha * last checkpoint (WiSE-FT), whatever validation says
    (the run's config and similarity read from its ``semcse_train.json``)."""
    from semcse.config import TrainConfig
    from semcse.similarity import get_distance
    from semcse.training.checkpoints import complete_checkpoints
    from semcse.training.final_model import interpolated_model

    metrics = json.loads((run_dir / RESULT_FILE).read_text())
    cfg = TrainConfig.from_dict(metrics["config"])
    last = complete_checkpoints(run_dir)[-1]
    target = run_dir / f"wise-{alpha:g}"
    interpolated_model(cfg, last, alpha, get_distance(metrics["similarity"])).save(str(target))
    return evaluate(str(target), tasks, max_seq_length)


def score_soup(out: Path, name: str, runs: dict, weight: float, tasks: dict, max_seq_length: int) -> dict | None:
    """Dev scores of (1 - weight) * base + weight * (uniform average of the seeds' last checkpoints) of one
    variant (a model soup over seeds); None when fewer than two seeds' checkpoints are on disk."""
    from semcse.config import TrainConfig
    from semcse.similarity import get_distance
    from semcse.training.final_model import interpolated_model
    from semcse.training.selection import interpolate_state
    from sentence_transformers import SentenceTransformer

    from semcse.training.checkpoints import complete_checkpoints

    lasts = [ckpts[-1] for ckpts in (complete_checkpoints(out / f"{name}-seed{seed}") for seed in sorted(runs)) if ckpts]
    if len(lasts) < 2:
        print(f"{name}: a soup needs the last checkpoints of 2+ seeds on disk", flush=True)
        return None
    soup_dir = out / f"{name}-soup-of-{len(lasts)}"  # built once, mixed with the base at every weight
    if not (soup_dir / "modules.json").exists():
        soup = SentenceTransformer(str(lasts[0]), device="cpu")
        state = soup.state_dict()
        for k, path in enumerate(lasts[1:], start=2):  # running mean: soup_k = (1 - 1/k) soup_{k-1} + 1/k ckpt_k
            state = interpolate_state(state, SentenceTransformer(str(path), device="cpu").state_dict(), 1.0 / k)
        soup.load_state_dict(state)
        soup.save(str(soup_dir))
    metrics = json.loads((lasts[0].parents[1] / RESULT_FILE).read_text())
    target = out / f"{name}-soup-{weight:g}"
    interpolated_model(TrainConfig.from_dict(metrics["config"]), soup_dir, weight,
                       get_distance(metrics["similarity"])).save(str(target))
    return evaluate(str(target), tasks, max_seq_length)


def table(results: dict, names: list[str], pools: dict, args) -> str:
    """Markdown: per task, mean over seeds [min, max] and the mean's change vs the base."""
    base = results["base"]["scores"]
    lines = [f"{args.steps} steps x {args.batch_size}, seeds {args.seeds}; lower is better; pools {pools}",
             "| model | " + " | ".join(names) + " | geometric mean |", "|" + "---|" * (len(names) + 2),
             "| base | " + " | ".join(f"{base[t]:.3f}" for t in names) + f" | {geometric_mean(base[t] for t in names):.3f} |"]
    for name, entry in results.items():
        if name == "base":
            continue
        picks_seen = list(dict.fromkeys(p for r in entry["runs"].values() for p in r["scores"]))
        for pick in picks_seen:
            per_seed = [r["scores"][pick] for r in entry["runs"].values() if pick in r["scores"]]
            if not per_seed:
                continue
            cells = []
            for t in names:
                vals = [s[t] for s in per_seed if t in s]
                mean = sum(vals) / len(vals) if vals else float("nan")
                cells.append(f"{mean:.3f} ({100 * (mean / base[t] - 1):+.1f}%) [{min(vals, default=mean):.3f}, "
                             f"{max(vals, default=mean):.3f}]" + ("" if len(vals) == len(per_seed) else f" ({len(vals)} seeds)"))
            geo = [geometric_mean(s[t] for t in names) if all(t in s for t in names) else float("nan") for s in per_seed]
            picks = (", ".join(r["selected" if pick == "selected" else "old_rule"] for r in entry["runs"].values())
                     if pick in ("selected", "old-rule") else pick)
            lines.append(f"| {name} {pick} ({picks}) | " + " | ".join(cells) +
                         f" | {sum(geo) / len(geo):.3f} [{min(geo):.3f}, {max(geo):.3f}] |")
        for soup, scores in entry.get("soups", {}).items():  # one model over the seeds
            cells = [f"{scores[t]:.3f} ({100 * (scores[t] / base[t] - 1):+.1f}%)" if t in scores else "-" for t in names]
            geo = geometric_mean(scores[t] for t in names) if all(t in scores for t in names) else float("nan")
            lines.append(f"| {name} {soup} (seeds {', '.join(sorted(entry['runs']))}) | " + " | ".join(cells) + f" | {geo:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
