"""Topic batches: clustering real papers by topic with a real encoder, batches of one topic, the option in training."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from semcse.config import ConfigError
from semcse.corpus import Paper
from semcse.training import train
from semcse.training.examples import ExampleBuilder
from semcse.training.papers import TrainingPaper
from semcse.training.prepared import PreparedPapers
from semcse.training.sampler import EpochBlockBatchSampler, LayoutRef
from semcse.training.topics import cluster_papers, topic_count


def test_topic_count_is_about_the_papers_per_topic():
    assert topic_count(1830, 100) == 18
    assert topic_count(30, 100) == 1
    assert topic_count(5, 1) == 5
    with pytest.raises(ValueError, match="papers per topic"):
        topic_count(10, 0)


def _two_fields(data_root: Path, scitldr_papers: list[Paper], n: int) -> list[TrainingPaper]:
    """``n`` computer-science papers (SciTLDR) and ``n`` medical abstracts, in that order."""
    with (data_root / "medical_abstracts" / "medical_tc_test.csv").open(newline="", encoding="utf-8") as fh:
        medical = [r["medical_abstract"] for _, r in zip(range(n), csv.DictReader(fh))]
    cs = [TrainingPaper(p.id, p.title, p.abstract, list(p.sentences or []), []) for p in scitldr_papers[:n]]
    med = [TrainingPaper(f"med-{i}", None, text, [], []) for i, text in enumerate(medical)]
    return cs + med


def test_clusters_separate_two_fields(data_root: Path, scitldr_papers: list[Paper], minilm_path: str):
    papers = PreparedPapers.from_papers(_two_fields(data_root, scitldr_papers, 20))
    model = SentenceTransformer(minilm_path, device="cpu")
    topics, report = cluster_papers(model, papers, papers_per_topic=20, seed=0, progress=False)
    assert report.topics == 2 and report.smallest + report.largest == 40
    assert topics.shape == (40,) and set(topics) == {0, 1}
    # each field falls (almost) wholly into one topic, and the two fields into different ones
    cs, med = np.bincount(topics[:20], minlength=2), np.bincount(topics[20:], minlength=2)
    assert cs.max() >= 18 and med.max() >= 18 and cs.argmax() != med.argmax()


def test_batches_hold_anchors_of_one_topic(scitldr_papers: list[Paper]):
    papers = [TrainingPaper(p.id, p.title, p.abstract, list(p.sentences or []), []) for p in scitldr_papers[:200]]
    builder = ExampleBuilder(papers, seed=3, title_anchors=True)
    topics = np.arange(len(papers)) % 4  # four topics of 50 papers
    builder.use_topics(topics)
    block = builder.anchors_per_epoch()

    class Rows:  # the sampler needs only the dataset's length with a layout
        def __len__(self):
            return block

    sampler = EpochBlockBatchSampler(Rows(), batch_size=10, drop_last=True, seed=0, block_size=block,
                                     layout=LayoutRef(builder))
    batches = list(sampler)
    row_topics = builder.row_topics(0)
    pure = sum(len(set(row_topics[b])) == 1 for b in batches)
    assert pure >= len(batches) - 8  # only batches at a topic's edge mix two
    sampler.set_epoch(0)
    assert list(sampler) == batches  # repeatable: a resume replays the same batches
    builder.use_topics(None)
    random_pure = sum(len(set(builder.plan(0).paper[b] % 4)) == 1 for b in batches_without_topics(builder, block))
    assert random_pure < pure / 2
    with pytest.raises(ValueError, match="one entry per training paper"):
        builder.use_topics(np.zeros(3, dtype=np.int64))


def batches_without_topics(builder: ExampleBuilder, block: int) -> list[list[int]]:
    class Rows:
        def __len__(self):
            return block

    return list(EpochBlockBatchSampler(Rows(), batch_size=10, drop_last=True, seed=0, block_size=block,
                                       layout=LayoutRef(builder)))


def test_training_with_topic_batches_reports_the_topics(tiny_config):
    cfg = tiny_config.replace(topic_batches=10, max_steps=2, eval_steps=2)
    train(cfg)
    result = json.loads((Path(cfg.out) / "semcse_train.json").read_text())
    topics = result["topics"]
    assert topics["topics"] == 3 and topics["papers"] == 30  # 40 papers, 10 for validation


def test_topic_batches_need_batches_grouped_by_kind(tiny_config):
    with pytest.raises(ConfigError, match="group-by-kind"):
        tiny_config.replace(topic_batches=10, group_by_kind=False)
