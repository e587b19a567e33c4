"""The lazy training set's transform: rows of an epoch plan -> texts, fetched per batch."""

from __future__ import annotations

import uuid
import weakref

import numpy as np

from semcse.training.examples import ExampleBuilder


_LIVE_TRANSFORMS: "weakref.WeakValueDictionary[str, TripletTexts]" = weakref.WeakValueDictionary()


def _live_transform(key: str) -> "TripletTexts":
    try:
        return _LIVE_TRANSFORMS[key]
    except KeyError:
        raise RuntimeError("the training set's transform was unpickled in another process; use forked dataloader "
                           "workers (the default on Linux) or --dataloader-workers 0") from None


class TripletTexts:
    """The ``with_transform`` of the lazy training set: rows ``block * block_size + i`` -> the texts of
    row ``i`` of epoch ``block``'s plan (anchor, positive, negative, label).

    It pickles (and deep-copies) as a handle to the live object: ``datasets`` hashes a transform by
    pickling it, and the builder's texts (gigabytes at paper scale) must not be serialised for that."""

    def __init__(self, builder: ExampleBuilder, block_size: int):
        self.builder, self.block_size = builder, block_size
        self.key = uuid.uuid4().hex
        _LIVE_TRANSFORMS[self.key] = self

    def __reduce__(self):
        return (_live_transform, (self.key,))

    def __deepcopy__(self, memo) -> "TripletTexts":
        return self

    def __call__(self, batch: dict[str, list]) -> dict[str, list]:
        rows = np.asarray(batch["row"], dtype=np.int64)
        blocks = rows // self.block_size
        out: dict[str, list] = {key: [None] * len(rows) for key in ("anchor", "positive", "negative", "label")}
        for block in np.unique(blocks):  # a batch lies in one block; a mixed request is served block by block
            where = np.flatnonzero(blocks == block)
            cols = self.builder.texts(self.builder.plan(int(block)), rows[where] - block * self.block_size)
            for key, values in cols.items():
                for i, value in zip(where, values):
                    out[key][i] = value
        return out
