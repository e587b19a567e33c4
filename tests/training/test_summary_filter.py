"""Round-trip filtering of summaries: ranks of a summary's own abstract, a real encoder telling
borrowed summaries from real ones, the builder training on kept summaries only, and a training run."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from semcse.training import train
from semcse.training.examples import ExampleBuilder
from semcse.training.papers import TrainingPaper
from semcse.training.prepared import PreparedPapers
from semcse.training.summary_filter import SUMMARY_FILTER, own_abstract_ranks, round_trip_filter


def _unit(rows) -> torch.Tensor:
    x = torch.tensor(rows, dtype=torch.float32)
    return x / x.norm(dim=1, keepdim=True)


def test_own_abstract_rank_counts_the_abstracts_at_least_as_close():
    abstracts = _unit([[1, 0], [0, 1], [1, 1]])
    summaries = _unit([[1, 0.1], [1, 0.1], [0.2, 1], [1, 1]])
    owners = np.array([0, 1, 1, 2])
    # summary 0 is nearest its own abstract 0; summary 1 (owner 1) has abstracts 0 and 2 nearer; ...
    assert own_abstract_ranks(summaries, owners, abstracts, block=2).tolist() == [0, 2, 0, 0]
    tie = own_abstract_ranks(_unit([[1, 1]]), np.array([0]), _unit([[1, 0], [0, 1]]))
    assert tie.tolist() == [1]  # a tie counts against the summary


def test_real_encoder_keeps_real_summaries_and_drops_borrowed_ones(minilm_path, scitldr_papers):
    model = SentenceTransformer(minilm_path, device="cpu")
    model.max_seq_length = 128
    papers = [p for p in scitldr_papers if p.abstract][:120]
    own = [p.abstract.split(". ")[0] for p in papers]  # a real (extractive) summary: the first sentence
    borrowed = own[60:] + own[:60]  # a summary of another paper (a hallucination, as far as paper i is concerned)
    training = PreparedPapers.from_papers([TrainingPaper(id=p.id, title=p.title, abstract=p.abstract, sentences=[p.abstract],
                                                         summaries=[own[i], borrowed[i]]) for i, p in enumerate(papers)])
    keep, report = round_trip_filter(model, training, top_k=5, progress=False, chunk=100)
    assert keep.shape == (240,) and report.summaries == 240 and report.kept == int(keep.sum())
    real, fake = keep[0::2], keep[1::2]
    assert real.mean() > 0.8 and fake.mean() < 0.1, (real.mean(), fake.mean())
    assert report.papers_without_summaries == int((~real & ~fake).sum())
    assert report.to_dict()["dropped"] == 240 - report.kept
    with pytest.raises(ValueError, match="top k"):
        round_trip_filter(model, training, top_k=0)


def test_builder_trains_only_on_kept_summaries():
    papers = [TrainingPaper(id=f"p{i}", title=f"Title {i}", abstract=f"A {i}. B {i}. C {i}.", sentences=[f"A {i}.", f"B {i}.", f"C {i}."],
                            summaries=[f"keep {i} a", f"drop {i}", f"keep {i} b"] if i % 4 else [f"drop {i} x", f"drop {i} y"])
              for i in range(40)]
    keep = np.array([s.startswith("keep") for p in papers for s in p.summaries])
    builder = ExampleBuilder(papers, seed=3, title_anchors=True)
    builder.use_summaries(keep)
    assert builder.anchors_per_epoch() == int(keep.sum()) + 40  # kept summaries + every title
    triplets = builder.epoch(0)
    assert len(triplets) == builder.anchors_per_epoch()
    texts = [x for t in triplets for x in (t.anchor, t.positive, t.negative)]
    assert not any(x.startswith("drop") for x in texts)
    # papers 0, 4, 8, ... lost every summary: their title anchors take a span, never a summary
    lost = [t for t in triplets if t.paper % 4 == 0]
    assert lost and all(t.anchor.startswith("Title") and t.kind == "sentence" for t in lost)
    summary_pairs = [t for t in triplets if t.kind == "summary" and t.anchor.startswith("keep")]
    assert summary_pairs and all(t.positive.startswith(f"keep {t.paper} ") and t.positive != t.anchor for t in summary_pairs)
    with pytest.raises(ValueError, match="one flag per summary"):
        builder.use_summaries(keep[:-1])


def test_training_with_filtering_reports_it_and_reuses_it(tiny_config, caplog):
    cfg = tiny_config.replace(filter_summaries=1, keep_checkpoints=True)  # keeps prepared/
    result = train(cfg)
    report = result.metrics["summary_filter"]
    assert report["top_k"] == 1 and report["summaries"] == 3 * result.metrics["data"]["train_papers"]
    assert 0 < report["kept"] < report["summaries"]
    assert result.metrics["examples_per_epoch"] == report["kept"]
    saved = list((Path(cfg.out) / "prepared").glob(f"*/{SUMMARY_FILTER}.npy"))
    assert len(saved) == 1 and np.load(saved[0]).sum() == report["kept"]
    with caplog.at_level(logging.INFO, logger="semcse"):
        train(cfg.replace(max_steps=2, overwrite=True))
    assert "using the summary filter computed before" in caplog.text
