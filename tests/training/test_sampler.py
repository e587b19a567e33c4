"""Epoch-block batch sampler: one fresh block per epoch, every row once, batches of one kind."""

from __future__ import annotations

import pytest
from datasets import Dataset

from semcse.training.sampler import EpochBlockBatchSampler


def _dataset(block: int, blocks: int) -> Dataset:
    rows = block * blocks
    return Dataset.from_dict({
        "anchor": ["a" * (i % 7 + 1) for i in range(rows)],
        "positive": ["p" * (i % 13 + 1) for i in range(rows)],
        "negative": ["n" * (i % 5 + 1) for i in range(rows)],
        "label": [[i, (i + 1) % rows, i % 3] for i in range(rows)],
    })


@pytest.mark.parametrize("group", [True, False])
def test_each_epoch_covers_its_block_once(group):
    ds = _dataset(block=50, blocks=3)
    sampler = EpochBlockBatchSampler(ds, batch_size=8, drop_last=False, seed=1, block_size=50, group_by_kind=group)
    assert len(sampler) == 7
    for epoch in range(4):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        rows = sorted(i for b in batches for i in b)
        start = (epoch % 3) * 50
        assert rows == list(range(start, start + 50))
    sampler.set_epoch(0)
    first = list(sampler)
    sampler.set_epoch(0)
    assert list(sampler) == first  # repeatable: a resume replays the same batches


def test_batches_are_grouped_by_kind_and_drop_last():
    ds = _dataset(block=300, blocks=1)
    sampler = EpochBlockBatchSampler(ds, batch_size=16, drop_last=True, seed=0, block_size=300, group_by_kind=True)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 300 // 16 and all(len(b) == 16 for b in batches)
    kinds = [{ds[i]["label"][2] for i in b} for b in batches]
    assert sum(len(k) == 1 for k in kinds) >= len(batches) - 2  # only the leftover batches mix kinds


def test_rejects_a_dataset_that_is_not_whole_blocks():
    with pytest.raises(ValueError, match="whole number of blocks"):
        EpochBlockBatchSampler(_dataset(10, 1), batch_size=4, drop_last=False, block_size=3)
