"""The SemCSE section of the model card: what a reader needs to know about how the model was trained."""

from __future__ import annotations

from semcse.training.model_card import semcse_section


def _metrics(**extra):
    return {"config": {"negatives": "same-kind", "hard_negatives": 0.5, "learning_rate": 2e-5},
            "data": {"papers_used": 100, "summaries": 300, "train_papers": 90, "validation_papers": 10},
            "validation": {"base": {"title_mean_rank": 2.0, "score": 2.0}, "final": {"title_mean_rank": 1.5, "score": 1.5},
                           "pool_sizes": {"title": 10}},
            "positive_mix": {"realised": {"summary": 0.5}, "requested": {"summary": 0.5}, "hard_negatives": 0.47},
            "selected": "checkpoint-20", "steps": 20, **extra}


def test_card_names_the_negatives_mining_and_filtering_when_they_were_on():
    plain = semcse_section(_metrics())
    assert "- Negatives: same-kind\n" in plain and "nearest papers" not in plain
    hard = {"candidates": 10, "kept_per_paper": 8.3, "relative_margin": 0.05, "remined": [{"epoch": 1}, {"epoch": 2}]}
    card = semcse_section(_metrics(hard_negatives=hard, summary_filter={"kept": 250, "summaries": 300, "top_k": 5}))
    assert ("47% from the anchor paper's 10 nearest papers (mined with the base model, again with the model being "
            "trained at epoch(s) 1, 2; 8.3 kept per paper after the 0.05 false-negative margin)") in card
    assert "Round-trip filtering kept 250 of 300 summaries (own abstract in the base model's top 5)" in card
    once = semcse_section(_metrics(hard_negatives={**hard, "remined": None}))
    assert "(mined with the base model; 8.3 kept" in once
    assert "freeze_layers" not in card and "freeze_layers=3" in semcse_section({**_metrics(), "config": {"freeze_layers": 3}})
    assert "| title | 10 | 2.000 | 1.500 |" in card and "Selected: `checkpoint-20`" in card
