"""Batches for SemCSE training: one epoch's fresh triplets, grouped by positive kind and length.

The training dataset holds one block of triplets per epoch (drawn with that epoch's seed); the
trainer's ``set_epoch`` picks the block, so every epoch sees new positives and negatives while a
resume replays exactly the same batches. Grouping batches by positive kind (title / sentence /
summary) and by length inside large shuffled chunks cuts the padding of the merged
positive+negative forward pass; it also makes in-batch negatives texts of the same kind. With topic
batches (:mod:`semcse.training.topics`) each chunk is ordered by topic before length, so a batch's
anchors share a topic.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch

from sentence_transformers.base.sampler import DefaultBatchSampler

CHUNK_BATCHES = 64  # batches per length-sorted chunk: enough to group lengths, small enough to stay random


class LayoutRef:
    """The sampler's handle on the example builder (``kinds_and_lengths``, ``row_topics``). It pickles to an empty
    handle: the Trainer saves its arguments, this partial included, into every checkpoint, and the
    builder's texts do not belong there."""

    def __init__(self, builder=None):
        self.builder = builder

    def _builder(self):
        if self.builder is None:
            raise RuntimeError("this sampler layout was unpickled without its example builder")
        return self.builder

    def kinds_and_lengths(self, block: int):
        return self._builder().kinds_and_lengths(block)

    def row_topics(self, block: int):
        return self._builder().row_topics(block)

    def __reduce__(self):
        return (LayoutRef, ())


class EpochBlockBatchSampler(DefaultBatchSampler):
    """Yields the batches of block ``epoch % blocks`` of the dataset (blocks of ``block_size`` rows)."""

    def __init__(self, dataset, batch_size: int, drop_last: bool, valid_label_columns: list[str] | None = None,
                 generator: torch.Generator | None = None, seed: int = 0, *, block_size: int, group_by_kind: bool = True,
                 layout=None):
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last, valid_label_columns=valid_label_columns,
                         generator=generator, seed=seed)
        if block_size < 1 or len(dataset) % block_size:
            raise ValueError(f"dataset of {len(dataset)} rows is not a whole number of blocks of {block_size}")
        self.block_size = block_size
        self.rows_source = dataset
        self.blocks = len(dataset) // block_size
        self.group_by_kind = group_by_kind
        # ``layout.kinds_and_lengths(block)`` gives a block's positive kinds and text lengths without its
        # texts (the lazily materialised training set); without it they are read from the dataset's columns
        self.layout = layout
        self._block_layout: tuple[int, np.ndarray, np.ndarray] | None = None

    def _kinds_and_lengths(self, block: int) -> tuple[np.ndarray, np.ndarray]:
        if self._block_layout is None or self._block_layout[0] != block:
            if self.layout is not None:
                kinds, lengths = self.layout.kinds_and_lengths(block)
            else:
                rows = self.rows_source.select(range(block * self.block_size, (block + 1) * self.block_size))
                kinds = np.asarray([row[2] for row in rows["label"]], dtype=np.int64)
                lengths = np.asarray([len(a) + len(p) + len(n) for a, p, n in
                                      zip(rows["anchor"], rows["positive"], rows["negative"])], dtype=np.int64)
            self._block_layout = (block, np.asarray(kinds), np.asarray(lengths))
        return self._block_layout[1], self._block_layout[2]

    def __len__(self) -> int:
        n = self.block_size
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _row_topics(self, block: int) -> np.ndarray | None:
        return self.layout.row_topics(block) if self.layout is not None else None

    def _grouped(self, block: int, rng: np.random.Generator) -> list[np.ndarray]:
        """Batches of block-local rows, each of one positive kind and of similar lengths (with topics: of one
        topic where the chunk allows, then of similar lengths)."""
        kinds, lengths = self._kinds_and_lengths(block)
        topics = self._row_topics(block)
        rows = np.arange(self.block_size)
        bs = self.batch_size
        batches, leftover = [], []
        for kind in np.unique(kinds):
            members = rng.permutation(rows[kinds == kind])
            for start in range(0, len(members), bs * CHUNK_BATCHES):
                chunk = members[start:start + bs * CHUNK_BATCHES]
                if topics is None:
                    chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
                else:  # topics in a random order, each topic's rows longest first
                    topic_order = rng.permutation(int(topics.max()) + 1)
                    chunk = chunk[np.lexsort((-lengths[chunk], topic_order[topics[chunk]]))]
                full = len(chunk) // bs * bs
                batches += [chunk[i:i + bs] for i in range(0, full, bs)]
                leftover.append(chunk[full:])
        rest = rng.permutation(np.concatenate(leftover)) if leftover else np.zeros(0, dtype=np.int64)
        batches += [rest[i:i + bs] for i in range(0, len(rest), bs)]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        block = self.epoch % self.blocks
        start = block * self.block_size
        if self.group_by_kind:
            batches = [start + b for b in self._grouped(block, rng)]
        else:
            rows = rng.permutation(np.arange(start, start + self.block_size))
            batches = [rows[i:i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
        full = [b for b in batches if len(b) == self.batch_size]
        partial = [b for b in batches if len(b) < self.batch_size]
        order = rng.permutation(len(full))
        batches = [full[i] for i in order] + ([] if self.drop_last else partial)
        for batch in batches:
            yield batch.tolist()
