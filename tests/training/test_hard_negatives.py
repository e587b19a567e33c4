"""Hard negatives: mining each paper's nearest papers with a real encoder, the margin guard, and
triplets whose negatives come from the mined neighbours."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from transformers import TrainerState

from semcse.config import ConfigError

from semcse.training import train
from semcse.training.examples import ExampleBuilder
from semcse.training.papers import TrainingPaper, prepare_papers
from semcse.training.hard_negatives import (NEIGHBOURS_FILE, HardNegativeRemining, mine_hard_negatives, nearest_papers,
                                            neighbour_overlap, paper_queries)
from semcse.training.prepared import PreparedPapers
from semcse.corpus import load_corpus


def _unit(rows) -> torch.Tensor:
    x = torch.tensor(rows, dtype=torch.float32)
    return x / x.norm(dim=1, keepdim=True)


def test_nearest_papers_exclude_the_paper_itself_and_candidates_inside_the_margin():
    # query i sits on its own abstract i; abstract 1 is almost abstract 0 (a near duplicate)
    abstracts = _unit([[1, 0, 0], [1, 0.05, 0], [0.6, 0.8, 0], [0, 0, 1]])
    queries = abstracts.clone()
    neighbours, dropped, same_topic = nearest_papers(queries, abstracts, candidates=2, relative_margin=0.05)
    assert neighbours.shape == (4, 2)
    assert all(i not in row for i, row in enumerate(neighbours))
    # paper 0's nearest other abstract (1) is within 5% of its own similarity (1.0): dropped
    assert 1 not in neighbours[0] and neighbours[0][0] == 2 and neighbours[0][1] == -1
    assert dropped >= 2 and same_topic is None  # 0 <-> 1 both ways; no topic guard asked for
    no_guard, none_dropped, _ = nearest_papers(queries, abstracts, candidates=2, relative_margin=0.0)
    assert list(no_guard[0]) == [1, 2] and none_dropped == 0  # most similar first


def test_topic_guard_mines_only_papers_of_other_topics():
    # papers 0-2 form one topic near (1, 0, 0), papers 3-5 another near (0, 1, 0)
    abstracts = _unit([[1, 0.1, 0], [1, 0.2, 0.1], [1, 0, 0.2], [0.3, 1, 0], [0.2, 1, 0.1], [0.4, 1, 0.3]])
    topics = np.array([0, 0, 0, 1, 1, 1])
    plain, _, _ = nearest_papers(abstracts, abstracts, candidates=2, relative_margin=0.0)
    assert all(topics[c] == topics[i] for i, row in enumerate(plain) for c in row)  # unguarded: own topic
    guarded, dropped, same_topic = nearest_papers(abstracts, abstracts, candidates=2, relative_margin=0.0, topics=topics)
    assert all(topics[c] != topics[i] for i, row in enumerate(guarded) for c in row if c >= 0)
    assert (guarded >= 0).all() and dropped == 0
    assert same_topic == pytest.approx(1.0)  # every unguarded candidate was of the paper's own topic
    # paper 0's nearest paper of the other topic comes first
    sims = (abstracts @ abstracts.T).numpy()
    assert guarded[0][0] == 3 + int(np.argmax(sims[0, 3:]))
    # one topic only: nothing left to mine, padded with -1, and nothing counted as dropped by the margin
    alone, dropped, _ = nearest_papers(abstracts, abstracts, candidates=2, relative_margin=0.0, topics=np.zeros(6, int))
    assert (alone == -1).all() and dropped == 0


def _real_papers(scitldr_train: Path, n: int) -> tuple[list[TrainingPaper], dict]:
    rows = [json.loads(line) for line in scitldr_train.open()][:n]
    summaries = {r["paper_id"]: list(r["target"]) for r in rows}
    return prepare_papers(load_corpus(scitldr_train, limit=n), summaries)[0], summaries


def test_mined_neighbours_are_closer_than_random_papers_and_pass_the_guard(scitldr_train: Path, minilm_path: str):
    papers, _ = _real_papers(scitldr_train, 150)
    prepared = PreparedPapers.from_papers(papers)
    model = SentenceTransformer(minilm_path, device="cpu")
    neighbours, report = mine_hard_negatives(model, prepared, candidates=5, relative_margin=0.05, progress=False)
    assert neighbours.shape == (len(papers), 5) and report.papers == len(papers)
    # an independent encoding: queries are first summaries, abstracts the papers' abstracts
    queries = model.encode([p.summaries[0] for p in papers], normalize_embeddings=True)
    abstracts = model.encode([p.abstract for p in papers], normalize_embeddings=True)
    assert paper_queries(prepared) == [p.summaries[0] for p in papers]
    sims = queries @ abstracts.T
    own = np.diag(sims)
    kept = neighbours >= 0
    rows, cols = np.nonzero(kept)
    mined = sims[rows, neighbours[rows, cols]]
    assert (mined <= 0.95 * own[rows] + 1e-4).all()  # the guard held
    assert (neighbours[rows, cols] != rows).all()
    random_pairs = sims[~np.eye(len(papers), dtype=bool)]
    assert mined.mean() > np.percentile(random_pairs, 90)  # hard: far above a typical other paper
    assert report.kept_per_paper == pytest.approx(kept.sum(axis=1).mean(), abs=0.01)


def _paper(i: int) -> TrainingPaper:
    sents = [f"Paper {i} sentence {k}." for k in range(4)]
    return TrainingPaper(id=f"p{i}", title=f"Title {i}", abstract=" ".join(sents), sentences=sents,
                         summaries=[f"Summary {s} of paper {i}." for s in range(3)])


def test_hard_share_of_negatives_comes_from_the_mined_neighbours():
    papers = [_paper(i) for i in range(60)]
    neighbours = np.full((60, 3), -1, dtype=np.int64)
    for i in range(60):
        neighbours[i, :2] = [(i + 1) % 60, (i + 2) % 60]  # two kept candidates, one dropped
    plain = ExampleBuilder(papers, seed=4)
    every = ExampleBuilder(papers, seed=4, neighbours=neighbours, hard_share=1.0)
    plan = every.plan(0)
    assert plan.hard.all()
    for t in every.epoch(0):
        assert t.negative_paper in ((t.paper + 1) % 60, (t.paper + 2) % 60)
    half = ExampleBuilder(papers, seed=4, neighbours=neighbours, hard_share=0.5).plan(0)
    assert half.hard.mean() == pytest.approx(0.5, abs=0.08)
    off = ExampleBuilder(papers, seed=4, neighbours=neighbours, hard_share=0.0).plan(0)
    assert off.hard is None and np.array_equal(off.neg_paper, plain.plan(0).neg_paper)
    with pytest.raises(ValueError, match="one row per training paper"):
        ExampleBuilder(papers, neighbours=neighbours[:10], hard_share=0.5)
    with pytest.raises(ValueError, match=r"share in \[0, 1\]"):
        ExampleBuilder(papers, neighbours=neighbours, hard_share=1.5)


def test_training_with_hard_negatives_mines_once_and_reuses_them_on_a_rerun(tiny_config, caplog):
    cfg = tiny_config.replace(hard_negatives=1.0, hard_negative_candidates=4, keep_checkpoints=True)  # keeps prepared/
    result = train(cfg)
    report = result.metrics["hard_negatives"]
    assert report["candidates"] == 4 and report["papers"] == result.metrics["data"]["train_papers"]
    assert result.metrics["positive_mix"]["hard_negatives"] > 0.8
    saved = list((Path(cfg.out) / "prepared").glob(f"*/{NEIGHBOURS_FILE}"))
    assert len(saved) == 1 and np.load(saved[0]).shape == (report["papers"], 4)
    with caplog.at_level(logging.INFO, logger="semcse"):
        train(cfg.replace(max_steps=2, overwrite=True))
    assert "using the hard negatives computed before" in caplog.text


def test_training_with_the_topic_guard_mines_across_topics_and_reports_it(tiny_config):
    cfg = tiny_config.replace(hard_negatives=1.0, hard_negative_candidates=3, hard_negative_topics=10,
                              keep_checkpoints=True)
    result = train(cfg)
    report = result.metrics["hard_negatives"]
    guard = report["topic_guard"]
    assert guard["papers"] == report["papers"] and guard["topics"] == round(report["papers"] / 10)
    assert 0.0 < report["same_topic_skipped"] <= 1.0  # some nearest papers share the paper's topic
    prepared = Path(cfg.out) / "prepared"
    topics = np.load(next(prepared.glob("*/topics-10.npy")))
    neighbours = np.load(next(prepared.glob(f"*/{NEIGHBOURS_FILE}")))
    rows, cols = np.nonzero(neighbours >= 0)
    assert len(rows) > 0 and (topics[neighbours[rows, cols]] != topics[rows]).all()
    card = (Path(cfg.out) / "README.md").read_text()
    assert f"3 nearest papers of other topics (of {guard['topics']} k-means topics)" in card
    with pytest.raises(ConfigError, match="needs --hard-negatives"):
        train(cfg.replace(hard_negatives=0.0, overwrite=True))


def test_neighbour_overlap_counts_kept_candidates_seen_before():
    before = np.array([[1, 2, -1], [0, 2, 3]])
    after = np.array([[2, 3, -1], [3, 2, 0]])
    assert neighbour_overlap(before, after) == pytest.approx(4 / 5)  # paper 0: 2 of {2, 3}; paper 1: all three
    assert neighbour_overlap(before, before) == 1.0


def test_remining_at_a_later_epoch_uses_the_current_model_and_replays_its_file(scitldr_train: Path, minilm_path: str,
                                                                                tmp_path: Path, caplog):
    papers, _ = _real_papers(scitldr_train, 80)
    prepared = PreparedPapers.from_papers(papers)
    model = SentenceTransformer(minilm_path, device="cpu")
    first = np.tile(np.arange(1, 4), (len(papers), 1))  # a stand-in for the base model's neighbours
    first[0] = [2, 3, 4]
    builder = ExampleBuilder(prepared, seed=3, neighbours=first, hard_share=1.0)
    remining = HardNegativeRemining(builder, candidates=3, margin=0.05, directory=tmp_path / "remined",
                                    key={"seed": 3}, progress=False)
    state = TrainerState(epoch=0.0, global_step=0)
    remining.on_epoch_begin(None, state, None, model=model)
    assert builder.neighbours is first and not remining.reports  # epoch 0 keeps the base model's neighbours

    state.epoch, state.global_step = 1.0, 5
    remining.on_epoch_begin(None, state, None, model=model)
    mined, _ = mine_hard_negatives(model, prepared, candidates=3, relative_margin=0.05, progress=False)
    assert np.array_equal(builder.neighbours, mined)  # what the current model finds now
    report = remining.reports[1]
    assert report["epoch"] == 1 and report["step"] == 5 and report["overlap"] == pytest.approx(
        neighbour_overlap(first, mined), abs=1e-4)
    plan = builder.plan(1)
    rows = np.flatnonzero(plan.hard)
    assert len(rows) > 0.8 * len(plan)
    assert all(plan.neg_paper[r] in mined[plan.paper[r]] for r in rows)
    assert (tmp_path / "remined" / "epoch-1.npy").exists()

    # a resume in the middle of epoch 1 replays the saved neighbours, whatever the model is now
    other = ExampleBuilder(prepared, seed=3, neighbours=first, hard_share=1.0)
    again = HardNegativeRemining(other, candidates=3, margin=0.05, directory=tmp_path / "remined",
                                 key={"seed": 3}, progress=False)
    with caplog.at_level(logging.INFO, logger="semcse"):
        again.on_epoch_begin(None, TrainerState(epoch=1.4, global_step=7), None, model=object())  # never encodes
    assert np.array_equal(other.neighbours, mined) and again.reports[1]["step"] == 5
    assert "computed before" in caplog.text


def test_training_with_remining_mines_each_later_epoch(tiny_config):
    # 30 training papers, one anchor each: 4 steps per epoch of 8, so 10 steps reach epochs 1 and 2
    cfg = tiny_config.replace(hard_negatives=1.0, hard_negative_candidates=4, hard_negative_remine=True,
                              anchors_per_paper=1, max_steps=10, eval_steps=5, keep_checkpoints=True)
    result = train(cfg)
    report = result.metrics["hard_negatives"]
    remined = report["remined"]
    assert [r["epoch"] for r in remined] == [1, 2]
    assert all(r["papers"] == report["papers"] and 0.0 <= r["overlap"] <= 1.0 for r in remined)
    saved = sorted(p.name for p in (Path(cfg.out) / "checkpoints" / "hard-negatives").glob("epoch-*.npy"))
    assert saved == ["epoch-1.npy", "epoch-2.npy"]
    card = (Path(cfg.out) / "README.md").read_text()  # the model card says how the negatives were drawn
    assert "from the anchor paper's 4 nearest papers (mined with the base model, again with the model being trained " \
           "at epoch(s) 1, 2" in card
    with pytest.raises(ConfigError, match="needs --hard-negatives"):
        train(cfg.replace(hard_negatives=0.0, overwrite=True))
