"""What a finished training run writes beside its model: metrics, the training curve, the model card."""

from __future__ import annotations

import logging
import resource
from pathlib import Path
from typing import Any

import torch

from semcse.training.checkpoints import CURVE_FILE, RESULT_FILE
from semcse.training.validation import EVALUATOR_NAME, SCORE_METRIC
from semcse.fileio import atomic_write_json

log = logging.getLogger(__name__)


def peak_memory() -> dict[str, float]:
    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if torch.cuda.is_available():
        out["peak_gpu_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def plot_curve(history: list[dict[str, Any]], base_scores: dict[str, float] | None, path: Path, selected: str | None = None) -> None:
    """Training loss, distances, and every validation task's change vs the base model, as a PNG.

    The third panel shows each task's mean rank relative to the base (0 = the base model, below =
    better), the selection score, and a vertical line at the checkpoint that was kept.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [h for h in history if "loss" in h]
    evals = [h for h in history if SCORE_METRIC in h]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    for key in ("loss", "triplet", "infonce", "l2"):
        pts = [(h["step"], h[key]) for h in train if key in h]
        if pts:
            axes[0].plot(*zip(*pts), label=key)
    axes[0].set_title("training loss")
    axes[0].set_ylabel("loss")
    for key in ("d_ap", "d_an"):
        pts = [(h["step"], h[key]) for h in train if key in h]
        if pts:
            axes[1].plot(*zip(*pts), label={"d_ap": "d(a,p)", "d_an": "d(a,n)"}[key])
    axes[1].set_title("mean distances")
    axes[1].set_ylabel("distance")
    base_scores = base_scores or {}
    prefix = f"eval_{EVALUATOR_NAME}_"
    tasks = sorted({k[len(prefix):-len("_mean_rank")] for h in evals for k in h if k.startswith(prefix) and k.endswith("_mean_rank")
                    and k != f"{prefix}mean_rank"})
    for key, label, style in [(f"{t}_mean_rank", t, "-") for t in tasks] + [("score", "selection score", "--")]:
        ref = base_scores.get(key)
        pts = [(h["step"], 100 * (h[prefix + key] / ref - 1)) for h in evals if prefix + key in h and ref]
        if pts:
            axes[2].plot(*zip(*pts), style, marker="o", label=label)
    axes[2].set_ylabel("change vs base, %")
    axes[2].axhline(0, color="grey", linestyle=":", label="base model")
    if selected and selected.startswith("checkpoint-"):
        axes[2].axvline(int(selected.split("-")[1]), color="black", linewidth=0.8, label=f"kept: {selected}")
    axes[2].set_title(f"validation mean rank vs base, % (lower is better)\nkept: {selected or '?'}", fontsize=9)
    for ax in axes:
        ax.set_xlabel("step")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_run_outputs(out: Path, metrics: dict[str, Any]) -> None:
    """``metrics`` as JSON (``semcse_train.json``), the training curve (never failing a finished run) and the model card's SemCSE section."""
    from semcse.training.model_card import append_semcse_section

    atomic_write_json(out / RESULT_FILE, metrics)
    try:
        plot_curve(metrics["log_history"], metrics["validation"]["base"], out / CURVE_FILE, metrics["selected"])
    except Exception as exc:  # a plot must never fail a finished training
        log.warning("could not draw the training curve: %s", exc)
    append_semcse_section(out / "README.md", metrics)
