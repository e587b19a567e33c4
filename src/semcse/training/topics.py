"""Topic batches: training papers clustered by topic, so that a batch's in-batch negatives share a topic.

With random batches almost every in-batch negative is about another subject, which the base model
already tells apart; a retrieval pool of one collection is mostly papers of the same few topics.
With ``TrainConfig.topic_batches`` set, the training papers are clustered once (k-means of the base
model's unit-norm abstract embeddings, about ``topic_batches`` papers per topic) and the batch
sampler fills each batch with anchors of one topic (Topic Aware Sampling, Hofstätter et al. 2021).
Every triplet keeps its own negative from a random paper, so each batch still holds other topics;
a loss with a guide model (GIST) masks in-batch texts that are as close to an anchor as its positive.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from semcse.training.hard_negatives import encode_unit
from semcse.training.prepared import PreparedPapers

log = logging.getLogger(__name__)

TOPICS = "topics"  # <prepared data>/topics-<papers per topic>.npy and .json


def topics_name(papers_per_topic: int) -> str:
    """The cache name of a clustering into topics of about ``papers_per_topic`` papers: one file per size,
    so topic batches and the hard-negative topic guard at different sizes keep their own copies."""
    return f"{TOPICS}-{papers_per_topic}"


@dataclass
class TopicReport:
    """What clustering found: papers, topics, and the smallest, median and largest topic (papers)."""

    papers: int
    topics: int
    papers_per_topic: int
    smallest: int
    median: float
    largest: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def topic_count(papers: int, papers_per_topic: int) -> int:
    """How many topics ``papers`` papers are clustered into: about ``papers_per_topic`` each, at least 1."""
    if papers_per_topic < 1:
        raise ValueError(f"topic_batches must be >= 1 papers per topic; got {papers_per_topic}")
    return max(1, min(papers, round(papers / papers_per_topic)))


def cluster_papers(model, papers: PreparedPapers, papers_per_topic: int, seed: int = 0, batch_size: int = 64,
                   progress: bool = True) -> tuple[np.ndarray, TopicReport]:
    """Each paper's topic (``int64``, 0..topics-1) from k-means of ``model``'s abstract embeddings."""
    from sklearn.cluster import KMeans

    started = time.perf_counter()
    n = len(papers)
    k = topic_count(n, papers_per_topic)
    log.info("topic batches: encoding %d abstracts and clustering them into %d topics", n, k)
    emb = encode_unit(model, papers.take(papers.abstracts, np.arange(n)), batch_size, progress).cpu().numpy()
    labels = KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(emb).astype(np.int64)
    sizes = np.bincount(labels, minlength=k)
    report = TopicReport(papers=n, topics=k, papers_per_topic=papers_per_topic, smallest=int(sizes.min()),
                         median=float(np.median(sizes)), largest=int(sizes.max()),
                         seconds=round(time.perf_counter() - started, 1))
    return labels, report
