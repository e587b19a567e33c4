"""Batches for SemCSE training: one epoch's fresh triplets, grouped by positive kind and length.

The training dataset holds one block of triplets per epoch (drawn with that epoch's seed); the
trainer's ``set_epoch`` picks the block, so every epoch sees new positives and negatives while a
resume replays exactly the same batches. Grouping batches by positive kind (title / sentence /
summary) and by length inside large shuffled chunks cuts the padding of the merged
positive+negative forward pass; it also makes in-batch negatives texts of the same kind.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch

from sentence_transformers.base.sampler import DefaultBatchSampler

CHUNK_BATCHES = 64  # batches per length-sorted chunk: enough to group lengths, small enough to stay random


class EpochBlockBatchSampler(DefaultBatchSampler):
    """Yields the batches of block ``epoch % blocks`` of the dataset (blocks of ``block_size`` rows)."""

    def __init__(self, dataset, batch_size: int, drop_last: bool, valid_label_columns: list[str] | None = None,
                 generator: torch.Generator | None = None, seed: int = 0, *, block_size: int, group_by_kind: bool = True):
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last, valid_label_columns=valid_label_columns,
                         generator=generator, seed=seed)
        if block_size < 1 or len(dataset) % block_size:
            raise ValueError(f"dataset of {len(dataset)} rows is not a whole number of blocks of {block_size}")
        self.block_size = block_size
        self.blocks = len(dataset) // block_size
        self.group_by_kind = group_by_kind
        if group_by_kind:
            self.kinds = np.asarray([row[2] for row in dataset["label"]], dtype=np.int64)
            self.lengths = np.asarray([len(a) + len(p) + len(n) for a, p, n in
                                       zip(dataset["anchor"], dataset["positive"], dataset["negative"])], dtype=np.int64)

    def __len__(self) -> int:
        n = self.block_size
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _grouped(self, rows: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
        bs = self.batch_size
        batches, leftover = [], []
        for kind in np.unique(self.kinds[rows]):
            members = rng.permutation(rows[self.kinds[rows] == kind])
            for start in range(0, len(members), bs * CHUNK_BATCHES):
                chunk = members[start:start + bs * CHUNK_BATCHES]
                chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
                full = len(chunk) // bs * bs
                batches += [chunk[i:i + bs] for i in range(0, full, bs)]
                leftover.append(chunk[full:])
        rest = rng.permutation(np.concatenate(leftover)) if leftover else np.zeros(0, dtype=np.int64)
        batches += [rest[i:i + bs] for i in range(0, len(rest), bs)]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        start = (self.epoch % self.blocks) * self.block_size
        rows = np.arange(start, start + self.block_size)
        if self.group_by_kind:
            batches = self._grouped(rows, rng)
        else:
            rows = rng.permutation(rows)
            batches = [rows[i:i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
        full = [b for b in batches if len(b) == self.batch_size]
        partial = [b for b in batches if len(b) < self.batch_size]
        order = rng.permutation(len(full))
        batches = [full[i] for i in order] + ([] if self.drop_last else partial)
        for batch in batches:
            yield batch.tolist()
