"""Rendering an :class:`~semcse.evaluation.run.EvaluationReport`: JSON, a Markdown table and 2-D maps (PNG)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from semcse.bootstrap import SAMPLES
from semcse.fileio import atomic_write_text

METRIC_LABELS = {
    "mean_rank": "mean rank", "knn_agreement": "kNN@10 agreement", "f1_macro": "macro-F1 x100", "f1": "F1 x100",
    "triplet_accuracy": "triplet acc.", "map": "MAP x100", "ndcg": "nDCG x100", "ndcg_at_10": "nDCG@10",
    "kendall_tau": "Kendall tau", "kendalltau": "Kendall tau x100",
}
SECONDARY = {
    "matching": ("mrr", "recall_at_1", "median_rank", "random_mean_rank"),
    "clustering": ("v_measure", "knn_agreement_random"),
    "classification": ("f1_macro", "f1_micro", "accuracy", "C"),
    "regression": ("kendalltau", "pearsonr", "C"),
    "proximity": ("map", "ndcg"),
    "search": ("ndcg", "map"),
}
DIAG_COLUMNS = (("alignment", "alignment"), ("uniformity", "uniformity"), ("mean_cosine", "mean cos"),
                ("pc1_variance_share", "PC1 var"), ("top10_pc_variance_share", "top-10 PC var"),
                ("norm_mean", "norm mean"), ("norm_std", "norm std"))


def _fmt(value: Any, metric: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if metric in ("mean_rank", "median_rank", "random_mean_rank") or abs(value) >= 10:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def markdown(report) -> str:
    """Models as rows, tasks as columns (main score; best in bold), then details, diagnostics, data and timing."""
    models = [m["name"] for m in report.models]
    tasks = [t["task"] for t in report.tasks]
    by = {(r.model, r.task): r for r in report.results}
    lines = [f"# Evaluation: {report.benchmark.get('name')}", ""]
    lines.append(f"Benchmark `{report.benchmark.get('file')}`, data root `{report.data_root}`, "
                 f"created {report.environment.get('created', '')}. Each model is scored with its own similarity; "
                 "compare models only on the same pools (same pool size and seed).")
    lines.append("")
    header = ["model", "similarity"]
    for t in tasks:
        r = next((by[(m, t)] for m in models if (m, t) in by), None)
        if r is None:
            continue
        arrow = "↑" if r.higher_is_better else "↓"
        header.append(f"{t} ({METRIC_LABELS.get(r.metric, r.metric)} {arrow})")
    shown_tasks = [t for t in tasks if any((m, t) in by for m in models)]
    best: dict[str, float] = {}
    for t in shown_tasks:
        vals = [by[(m, t)] for m in models if (m, t) in by]
        if len(vals) > 1:
            pick = max if vals[0].higher_is_better else min
            best[t] = pick(v.score for v in vals)
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] * 2 + ["---:"] * len(shown_tasks)) + "|")
    for m in models:
        sim = next((r.similarity for r in report.results if r.model == m), "-")
        cells = [m, sim]
        for t in shown_tasks:
            r = by.get((m, t))
            if r is None:
                cells.append("-")
                continue
            s = _fmt(r.score, r.metric)
            cells.append(f"**{s}**" if t in best and r.score == best[t] else s)
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += intervals_section(report, shown_tasks)
    lines += paper_table_section(report)
    lines += scirepeval_section(report)

    lines += ["## Details", "", "| task | model | pool | seed | metrics |", "|---|---|---:|---:|---|"]
    for t in shown_tasks:
        for m in models:
            r = by.get((m, t))
            if r is None:
                continue
            keys = (r.metric,) + tuple(k for k in SECONDARY.get(r.type, ()) if k in r.metrics and k != r.metric)
            extra = [k for k in ("queries", "k", "labels") if k in r.metrics]
            text = ", ".join(f"{k} {_fmt(r.metrics[k], k)}" for k in keys + tuple(extra))
            lines.append(f"| {t} | {m} | {r.pool_size} | {r.seed} | {text} |")
    lines.append("")

    if report.diagnostics:
        lines += ["## Diagnostics", ""]
        any_diag = next(iter(report.diagnostics.values()))
        src = f"texts: `{any_diag.get('texts_from')}` (n = {any_diag.get('n')})"
        if any_diag.get("pairs_from"):
            src += f"; alignment pairs: `{any_diag.get('pairs_from')}` (n = {any_diag.get('alignment_pairs')})"
        lines += [f"Alignment and uniformity on L2-normalised embeddings (lower is better for both); mean cos = mean cosine "
                  f"of all pairs (anisotropy); PC var = variance share of the top principal components. {src}.", ""]
        cols = [(k, label) for k, label in DIAG_COLUMNS if any(k in d for d in report.diagnostics.values())]
        lines.append("| model | " + " | ".join(label for _, label in cols) + " |")
        lines.append("|---|" + "|".join(["---:"] * len(cols)) + "|")
        for m, d in report.diagnostics.items():
            lines.append(f"| {m} | " + " | ".join(_fmt(d.get(k), k) for k, _ in cols) + " |")
        lines.append("")

    if report.plots:
        lines += ["## Maps", ""] + [f"![{p}]({p})" for p in report.plots] + [""]

    if report.mteb:
        lines += ["## MTEB", "", "| model | task | main score |", "|---|---|---:|"]
        lines += [f"| {r['model']} | {r['task']} | {_fmt(r['main_score'])} |" for r in report.mteb]
        lines.append("")

    lines += ["## Tasks and data", "", "| task | type | pool | seed | data (sha256) | description |", "|---|---|---:|---:|---|---|"]
    for t in report.tasks:
        data = "<br>".join(f"`{d['path']}` ({d['sha256'][:12]})" for d in t["data"])
        lines.append(f"| {t['task']} | {t['type']} | {t['pool_size']} | {t['seed']} | {data} | {t.get('description', '')} |")
    for s in report.skipped:
        lines.append(f"| {s['task']} | skipped | - | - | - | {s['reason']} |")
    lines.append("")

    lines += ["## Models", "", "| model | source | similarity | pooling | max length | dim |", "|---|---|---|---|---:|---:|"]
    for m in report.models:
        lines.append(f"| {m['name']} | `{m['source']}` | {m['similarity']} | {m.get('pooling')} | {m.get('max_seq_length')} | {m.get('dim')} |")
    lines.append("")
    tm = report.timing
    if tm:
        lines += ["## Timing", "", ", ".join(f"{k} {v}" for k, v in tm.items()), ""]
    return "\n".join(lines)


def intervals_section(report, tasks: Sequence[str]) -> list[str]:
    """Each score's bootstrap interval and, with several models, each model vs the first (paired)."""
    rows = [r for t in tasks for r in report.results if r.task == t and r.interval]
    if not rows:
        return []
    level = next((c["confidence"] for c in report.comparisons), 0.95)
    vs = {(c["model"], c["task"]): c for c in report.comparisons}
    reference = report.comparisons[0]["reference"] if report.comparisons else None
    lines = ["## Intervals", "",
             f"{level:.0%} bootstrap intervals over each pool's queries ({SAMPLES:,} resamples)."
             + (f" Changes are relative to `{reference}`, paired on the same queries: better or worse only when "
                "the interval excludes no change, else level." if reference else ""), "",
             "| task | model | score | interval |" + (f" vs {reference} | interval | verdict |" if reference else ""),
             "|---|---|---:|---|" + ("---:|---|---|" if reference else "")]
    for r in rows:
        line = f"| {r.task} | {r.model} | {_fmt(r.score, r.metric)} | [{_fmt(r.interval[0], r.metric)}, {_fmt(r.interval[1], r.metric)}] |"
        if reference:
            c = vs.get((r.model, r.task))
            line += (f" {100 * c['change']:+.1f}% | [{100 * c['low']:+.1f}%, {100 * c['high']:+.1f}%] | {c['verdict']} |"
                     if c else " | | |")
        lines.append(line)
    return lines + [""]


def paper_table_section(report) -> list[str]:
    """Markdown lines of the SemCSE paper's table (Title, Segments, Query, Clustering, Perf.)."""
    from semcse.evaluation import paper_table

    table = getattr(report, "paper_table", None) or {}
    if not table.get("rows"):
        return []
    return ["## Paper table (SemCSE layout)", "",
            "The SemCSE paper's semantic benchmark on our pools: mean rank of the partner (lower is better) and kNN "
            "label agreement (higher is better); Perf. = the mean over columns of how far a model goes from the "
            "reference towards the best model shown (clipped to [0, 1]).", ""] + paper_table.markdown(table) + [""]


def scirepeval_section(report) -> list[str]:
    """Markdown lines of the SciRepEval table: per model its tasks, the four format means and the average."""
    summary = getattr(report, "scirepeval", None) or {}
    if not summary.get("models"):
        return []
    formats = summary["formats"]
    tasks = [t["task"] for t in report.tasks if t.get("format")]
    by = {(r.model, r.task): r for r in report.results}
    lines = ["## SciRepEval", "",
             "SciRepEval's protocol (allenai/scirepeval evaluation/evaluator.py): linear probes without intercept, C by "
             "3 unshuffled folds (classification: macro-F1; regression: Kendall tau), proximity and search by negative "
             "Euclidean distance with trec_eval's MAP / nDCG over each query's full candidate list; every score x 100. "
             "Format columns are the mean of their tasks; Avg. is the mean of all tasks shown.", ""]
    header = ["model"] + [f"{t} ({next((r.metric for r in report.results if r.task == t), '')})" for t in tasks]
    header += [f for f in formats] + ["Avg."]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for model, row in summary["models"].items():
        cells = [model] + [f"{by[(model, t)].score:.2f}" if (model, t) in by else "-" for t in tasks]
        cells += ["-" if row.get(f) is None else f"{row[f]:.2f}" for f in formats]
        cells.append(f"{row['average']:.2f} ({row['tasks']} tasks)")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines


def write_report(report, out: str | Path) -> dict[str, str]:
    """Write ``results.json`` and ``results.md`` into ``out`` (atomically); returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "markdown": out / "results.md"}
    payload = report.to_dict()
    payload["files"] = {k: str(v) for k, v in paths.items()}
    for key, text in (("json", json.dumps(payload, indent=2, default=_json_default, ensure_ascii=False)),
                      ("markdown", markdown(report))):
        atomic_write_text(paths[key], text + "\n")
    return {k: str(v) for k, v in paths.items()}


def _palette(n: int) -> list:
    """``n`` distinct colours without greys (grey is kept for "other")."""
    import matplotlib.pyplot as plt

    if n <= 9:
        base = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 7]
    else:
        base = [c for i, c in enumerate(plt.get_cmap("tab20").colors) if i not in (14, 15)]
        base += list(plt.get_cmap("tab20b").colors)
    return [base[i % len(base)] for i in range(n)]


def plot_map(panels: Sequence[tuple[str, np.ndarray, Sequence[str]]], path: str | Path, title: str = "",
             method: str = "tsne", seed: int = 0, max_legend: int = 20) -> Path:
    """A PNG with one 2-D map per model (``panels`` = [(model, embeddings, labels)]), points coloured by label.

    The same label has the same colour in every panel; labels beyond the ``max_legend`` most
    frequent are drawn grey as "other".
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semcse.evaluation.diagnostics import project_2d

    labels_all = [l for _, _, labs in panels for l in labs]
    uniq, counts = np.unique(labels_all, return_counts=True)
    ordered = [str(u) for u in uniq[np.argsort(-counts, kind="stable")]]
    shown = sorted(ordered[:max_legend])
    colour = dict(zip(shown, _palette(len(shown))))
    n = len(panels)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols + 2.6, 5.0 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (model, emb, labels) in zip(axes.flat, panels):
        xy = project_2d(emb, method=method, seed=seed)
        labs = np.asarray([str(l) for l in labels])
        other = ~np.isin(labs, shown)
        if other.any():
            ax.scatter(xy[other, 0], xy[other, 1], s=12, c="#999999", marker="x", label="other", linewidths=0.8)
        for lab in shown:
            m = labs == lab
            if m.any():
                ax.scatter(xy[m, 0], xy[m, 1], s=11, color=colour[lab], label=lab, linewidths=0, alpha=0.9)
        ax.set_title(model, fontsize=11)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=colour[l], label=l) for l in shown]
    if len(ordered) > len(shown):
        handles.append(plt.Line2D([], [], marker="x", linestyle="", color="#999999", label="other"))
    fig.legend(handles=handles, loc="center right", fontsize=8, frameon=False, title="label")
    if title:
        fig.suptitle(title, fontsize=12)
    fig.tight_layout(rect=(0, 0, 1 - 2.4 / (5.2 * cols + 2.6), 0.95))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
