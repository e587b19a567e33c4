"""The SemCSE paper's semantic-benchmark table: Title, Segments, Query, Clustering and Perf.

A benchmark task joins the table by naming its column (``paper_column = "Title"`` in the benchmark
file). Perf. is the paper's aggregate, whose formula the paper does not give; this one reproduces
its 12 values to +-0.001 (METHOD.md 5): per column

    n = clip((ref - x) / (ref - best), 0, 1)        (mean ranks: lower is better)
    n = clip((x - ref) / (best - ref), 0, 1)        (clustering: higher is better)

with ``best`` the best model of the table in that column and ``ref`` a reference system's score;
Perf. = the mean of the columns' n. ``ref`` is either a lexical reference scored by us on the same
pools (:class:`semcse.evaluation.reference.TfidfEncoder`) or the paper's anchors fitted by us
(``paper_results.toml``), always labelled as a reconstruction.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

COLUMNS = ("Title", "Segments", "Query", "Clustering")
HIGHER_IS_BETTER = {"Title": False, "Segments": False, "Query": False, "Clustering": True}
REFERENCES = ("tfidf", "paper", "none")


@functools.lru_cache(maxsize=1)
def paper_results() -> dict[str, Any]:
    """The paper's own rows and fitted anchors (``semcse/evaluation/paper_results.toml``)."""
    import tomllib
    from importlib import resources

    text = resources.files("semcse.evaluation").joinpath("paper_results.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def normalised(x: float, ref: float, best: float, higher_is_better: bool) -> float:
    """How far ``x`` goes from the reference towards the best model, clipped to [0, 1]; 0 when no model
    beats the reference."""
    span = (best - ref) if higher_is_better else (ref - best)
    if span <= 0:
        return 0.0
    gain = (x - ref) if higher_is_better else (ref - x)
    return min(1.0, max(0.0, gain / span))


def perf(scores: Mapping[str, Mapping[str, float]], reference: Mapping[str, float]) -> dict[str, dict[str, Any]]:
    """Per model: the normalised score of every column both the model and ``reference`` have, and Perf.
    (their mean; None without columns). ``scores`` is ``{model: {column: score}}``."""
    columns = [c for c in COLUMNS if c in reference and any(c in s for s in scores.values())]
    best = {}
    for c in columns:
        values = [s[c] for s in scores.values() if c in s]
        best[c] = max(values) if HIGHER_IS_BETTER[c] else min(values)
    out: dict[str, dict[str, Any]] = {}
    for model, row in scores.items():
        n = {c: normalised(row[c], reference[c], best[c], HIGHER_IS_BETTER[c]) for c in columns if c in row}
        out[model] = {"normalised": n, "perf": sum(n.values()) / len(n) if n else None, "columns": len(n)}
    return out


def build(results: Sequence[Any], columns: Mapping[str, str], pools: Mapping[str, int], reference_name: str,
          reference_scores: Mapping[str, float] | None, include_paper: bool = False) -> dict[str, Any]:
    """The table as plain data: ``results`` are :class:`~semcse.evaluation.run.TaskResult` rows,
    ``columns`` maps a paper column to its task, ``pools`` a task to its pool size."""
    scores: dict[str, dict[str, float]] = {}
    for r in results:
        for column, task in columns.items():
            if r.task == task:
                scores.setdefault(r.model, {})[column] = r.score
    perfs = perf(scores, reference_scores) if reference_scores else {}
    table: dict[str, Any] = {
        "columns": {c: {"task": t, "pool_size": pools.get(t), "higher_is_better": HIGHER_IS_BETTER[c]} for c, t in columns.items()},
        "rows": [{"model": m, "scores": s, **perfs.get(m, {"normalised": {}, "perf": None, "columns": 0})} for m, s in scores.items()],
        "reference": {"name": reference_name, "scores": dict(reference_scores or {}),
                      "note": _REFERENCE_NOTES[reference_name]},
    }
    if include_paper:
        paper = paper_results()
        table["paper_rows"] = [{"model": row["model"], "scores": {c: row[c] for c in COLUMNS if c in row},
                                "scirepeval_average": row.get("scirepeval_average")} for row in paper["rows"]]
        table["paper_source"] = paper["source"]
    return table


_REFERENCE_NOTES = {
    "tfidf": "Perf. reference: TF-IDF (scikit-learn) scored by semcse on the same pools; a reconstruction of the "
             "paper's aggregate, not its numbers",
    "paper": "Perf. reference: the paper's anchors as fitted by semcse (7.39, 12.86, 1.738, 0.659), measured on the "
             "paper's pools, not these; a reconstruction",
    "none": "no Perf. (no reference chosen)",
}


def _cell(value: float | None, column: str) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if column == "Clustering" else f"{value:.2f}"


def markdown(table: Mapping[str, Any]) -> list[str]:
    """The table in the paper's layout: Title, Segments, Query (mean rank, lower is better),
    Clustering (kNN agreement, higher is better), Perf.; pool sizes in the header."""
    cols = [c for c in COLUMNS if c in table["columns"]]
    head = [f"{c} ({'↑' if HIGHER_IS_BETTER[c] else '↓'}, N={table['columns'][c]['pool_size']})" for c in cols]
    lines = ["| model | " + " | ".join(head) + " | Perf. ↑ |", "|---|" + "---:|" * (len(cols) + 1)]
    for row in table["rows"]:
        p = row.get("perf")
        lines.append(f"| {row['model']} | " + " | ".join(_cell(row['scores'].get(c), c) for c in cols)
                     + f" | {'-' if p is None else f'{p:.3f}'} |")
    ref = table["reference"]
    if ref["scores"]:
        lines.append(f"| *reference: {ref['name']}* | " + " | ".join(_cell(ref['scores'].get(c), c) for c in cols) + " | 0 |")
    for row in table.get("paper_rows", []):
        if any(c in row["scores"] for c in cols):
            lines.append(f"| *{row['model']} (paper, their pools)* | "
                         + " | ".join(_cell(row['scores'].get(c), c) for c in cols) + " | - |")
    lines += ["", ref["note"] + "."]
    beaten = [c for c in cols if ref["scores"].get(c) is not None and table["rows"]
              and not any(row["normalised"].get(c) for row in table["rows"])]
    if beaten and ref["scores"]:
        lines.append(f"No model shown beats the reference on {', '.join(beaten)}: every model's share there is 0.")
    if table.get("paper_source"):
        lines.append(f"Paper rows: {table['paper_source']}; measured on the paper's pools and data, not ours.")
    return lines
