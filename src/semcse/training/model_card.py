"""The SemCSE part of the model card, appended to the card sentence-transformers writes.

sentence-transformers' card already lists the training arguments, the loss, the dataset and the
evaluation logs; this section adds what SemCSE decided: base model, data sizes, positive mix,
negatives, the validation scores of the base model and of the selected model, and the similarity
to use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from semcse.fileio import atomic_write_text

MARKER = "## SemCSE training"


def display_name(name_or_path: str) -> str:
    """A hub id as it is; a local path as its folder and name (``scitldr/train.jsonl``, not ``train.jsonl``)."""
    path = Path(name_or_path)
    if not path.exists():
        return name_or_path
    return "/".join(path.resolve().parts[-2:])


def semcse_section(metrics: dict[str, Any]) -> str:
    """Markdown for one training run's ``semcse_train.json`` content."""
    cfg = metrics.get("config", {})
    data = metrics.get("data", {})
    val = metrics.get("validation", {})
    base, final = val.get("base", {}), val.get("final", {})
    tasks = sorted({k[: -len("_mean_rank")] for k in base if k.endswith("_mean_rank") and k != "mean_rank"})
    rows = [f"| {t} | {val.get('pool_sizes', {}).get(t, '')} | {base.get(f'{t}_mean_rank', float('nan')):.3f} | "
            f"{final.get(f'{t}_mean_rank', float('nan')):.3f} |" for t in tasks]
    rows.append(f"| **selection score** (geometric mean over the voting tasks) | | {base.get('score', float('nan')):.3f} | {final.get('score', float('nan')):.3f} |")
    selected = metrics.get("selected")
    choice = ("No checkpoint or interpolation beat the untrained base model on validation without being worse on a task, "
              "so **this is the base model** (unchanged weights)." if selected == "base"
              else f"Selected: `{selected}` (the best validation score among candidates no worse than the base on any task).")
    mix = metrics.get("positive_mix", {})
    loss = metrics.get("loss", {})
    hyper = {k: cfg.get(k) for k in ("learning_rate", "batch_size", "gradient_accumulation_steps", "epochs", "max_steps",
                                     "warmup_ratio", "weight_decay", "precision", "max_seq_length", "seed") if cfg.get(k) is not None}
    if cfg.get("freeze_layers"):
        hyper["freeze_layers"] = cfg["freeze_layers"]
    lines = [
        MARKER, "",
        "Trained with [semcse](https://arxiv.org/abs/2507.13105): LLM summaries of the same abstract are pulled together, "
        "summaries of different abstracts pushed apart.", "",
        f"- Base model: `{metrics.get('base_model')}` (pooling: {metrics.get('pooling')})",
        f"- Similarity: **{metrics.get('similarity')}**, recorded in the model, so `model.similarity` compares embeddings as in training",
        f"- Loss: {loss.get('name')} ({', '.join(f'{k}={v}' for k, v in loss.items() if k != 'name')})"
        + _objective(cfg),
        f"- Data: {data.get('papers_used')} papers with {data.get('summaries')} summaries "
        f"({data.get('train_papers')} train / {data.get('validation_papers')} validation, split by paper"
        + (f"; {data['train_unsummarised']} training papers without summaries trained through title and span anchors"
           if data.get("train_unsummarised") else "")
        + (f"; {data['validation_unsummarised']} unsummarised corpus papers in the title/halves validation pools"
           if data.get("validation_unsummarised") else "") + "); "
        f"{metrics.get('examples_per_epoch')} triplets per epoch",
        f"- Positive mix realised: {mix.get('realised')} (requested {mix.get('requested')})",
        f"- Negatives: {_negatives(cfg, metrics)}",
        f"- Hyperparameters: {', '.join(f'{k}={v}' for k, v in hyper.items())}; {metrics.get('steps')} steps",
        f"- {choice}",
        "", "Validation (mean rank of the partner in the pool, lower is better):", "",
        "| task | pool | base model | this model |", "|---|---|---|---|", *rows, "",
    ]
    if metrics.get("health_warnings"):
        lines += ["Training health warnings:", "", *[f"- {w}" for w in metrics["health_warnings"]], ""]
    return "\n".join(lines)


def _objective(cfg: dict[str, Any]) -> str:
    """Why this loss: GIST keeps a sentence embedder's own in-batch objective, the triplet is the paper's."""
    if cfg.get("loss") == "gist":
        return ("; GIST: a cosine in-batch softmax whose false negatives the frozen guide masks, "
                "the objective a sentence-embedding base was trained with")
    if cfg.get("loss") == "triplet":
        return "; the paper's Euclidean triplet objective"
    return ""


def _negatives(cfg: dict[str, Any], metrics: dict[str, Any]) -> str:
    """How the negatives were drawn, with hard-negative mining and summary filtering when they were on."""
    text = cfg.get("negatives", "same-kind")
    if cfg.get("loss") == "gist":
        text = ("in-batch: every other text of the batch, except those the guide scores above the anchor's positive; "
                f"plus one {text} negative per anchor")
    hard = metrics.get("hard_negatives")
    if hard:
        share = metrics.get("positive_mix", {}).get("hard_negatives", cfg.get("hard_negatives"))
        remined = [r["epoch"] for r in hard.get("remined") or []]
        guard = hard.get("topic_guard")
        text += (f"; {share:.0%} from the anchor paper's {hard['candidates']} nearest papers"
                 + (f" of other topics (of {guard['topics']} k-means topics)" if guard else "")
                 + " (mined with the base model"
                 + (f", again with the model being trained at epoch(s) {', '.join(map(str, remined))}" if remined else "")
                 + f"; {hard['kept_per_paper']} kept per paper after the {hard['relative_margin']} false-negative margin)")
    kept = metrics.get("summary_filter")
    if kept:
        text += (f". Round-trip filtering kept {kept['kept']} of {kept['summaries']} summaries "
                 f"(own abstract in the base model's top {kept['top_k']})")
    return text


def append_semcse_section(readme: Path, metrics: dict[str, Any]) -> None:
    """Add (or replace) the SemCSE section at the end of ``readme``."""
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    if MARKER in text:
        text = text[: text.index(MARKER)]
    atomic_write_text(readme, text.rstrip() + "\n\n" + semcse_section(metrics))
