"""A lexical reference system for the paper table's Perf.: TF-IDF vectors compared by cosine.

:class:`TfidfEncoder` has the part of :class:`semcse.encode.Encoder`'s interface that scoring uses
(``encode``, ``distance``, ``name``, ``similarity_fn_name``), so the engines score it on the same
pools as the models. The vocabulary and IDF weights are fitted on the texts it will be asked to
encode (every text of the paper-table tasks), as a lexical baseline of a retrieval benchmark is.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from semcse.similarity import get_distance


class TfidfEncoder:
    """TF-IDF (scikit-learn, sublinear term frequency, English stop words, unit-norm rows) as dense
    float32 embeddings; similarity cosine."""

    name = "tf-idf"
    similarity_fn_name = "cosine"
    pooling = None
    max_seq_length = None

    def __init__(self, texts: Sequence[str], max_features: int = 20_000):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(sublinear_tf=True, stop_words="english", max_features=max_features,
                                          dtype=np.float32)
        self.vectorizer.fit(list(texts))
        self.encoded_texts = 0

    @property
    def distance(self):
        return get_distance("cosine")

    def encode(self, texts: Sequence[str], batch_size: int = 0, cache_dir: Any = None, progress: bool = False,
               description: str | None = None) -> np.ndarray:
        """Rows of TF-IDF weights, one per text, in input order (``batch_size``, ``cache_dir``, ``progress``
        are accepted for the encoder interface and unused)."""
        self.encoded_texts += len(texts)
        return self.vectorizer.transform(list(texts)).toarray()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "similarity": self.similarity_fn_name, "kind": "tf-idf (scikit-learn)",
                "vocabulary": len(self.vectorizer.vocabulary_)}
