"""``semcse search``: top-k papers for a query under the index model's own similarity.

Both go through FAISS: small indexes are searched exactly (a flat index); large ones
(``exact_limit`` vectors and up, or ``index_type="hnsw"``) through an HNSW graph, built once and
saved beside the vectors. Cosine indexes store normalised vectors and use inner product;
Euclidean ones use L2.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semcse.encode import Encoder, load_encoder

log = logging.getLogger(__name__)


class SearchError(ValueError):
    """An unusable index or query; the message says which and why."""


@dataclass
class Hit:
    rank: int
    id: str
    title: str | None
    score: float  # cosine similarity, or negative Euclidean distance: higher is better

    def to_dict(self) -> dict:
        return {"rank": self.rank, "id": self.id, "title": self.title, "score": self.score}


class VectorIndex:
    """Nearest-neighbour search over a fixed set of vectors: exact for small sets, FAISS HNSW for large."""

    def __init__(self, vectors: np.ndarray, similarity: str, index_type: str = "auto", exact_limit: int = 50_000,
                 cache_path: Path | None = None, hnsw_m: int = 32, ef_search: int = 128):
        if similarity not in ("cosine", "euclidean"):
            raise SearchError(f"unsupported similarity {similarity!r} (cosine or euclidean)")
        self.similarity = similarity
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if similarity == "cosine":
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        self.kind = ("hnsw" if len(vectors) >= exact_limit else "exact") if index_type == "auto" else index_type
        if self.kind not in ("exact", "hnsw"):
            raise SearchError(f"unknown index type {index_type!r} (auto, exact or hnsw)")
        # the FAISS index holds the (normalised) vectors; no second copy is kept here
        self._faiss = self._build_hnsw(vectors, cache_path, hnsw_m, ef_search) if self.kind == "hnsw" else self._build_flat(vectors)

    def _metric(self):
        import faiss

        return faiss.METRIC_INNER_PRODUCT if self.similarity == "cosine" else faiss.METRIC_L2

    def _build_flat(self, vectors: np.ndarray):
        import faiss

        index = faiss.IndexFlat(vectors.shape[1], self._metric())
        index.add(vectors)
        return index

    def _build_hnsw(self, vectors: np.ndarray, cache_path: Path | None, m: int, ef_search: int):
        import faiss

        if cache_path is not None and cache_path.exists():
            index = faiss.read_index(str(cache_path))
            if index.ntotal == len(vectors) and index.d == vectors.shape[1]:
                index.hnsw.efSearch = ef_search
                return index
            log.warning("%s does not match the vectors; rebuilding", cache_path)
        index = faiss.IndexHNSWFlat(vectors.shape[1], m, self._metric())
        index.hnsw.efConstruction = 80
        index.add(vectors)
        index.hnsw.efSearch = ef_search
        if cache_path is not None:
            faiss.write_index(index, str(cache_path))
        return index

    def query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, indices), each (n_queries, k'); scores: cosine or negative Euclidean distance."""
        q = np.ascontiguousarray(np.atleast_2d(q), dtype=np.float32)
        if q.shape[1] != self._faiss.d:
            raise SearchError(f"query vectors have dimension {q.shape[1]}, the index {self._faiss.d}: built by another model?")
        if self.similarity == "cosine":
            q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        k = min(k, self._faiss.ntotal)
        scores, idx = self._faiss.search(q, k)
        return (scores if self.similarity == "cosine" else -np.sqrt(np.maximum(scores, 0))), idx


class SearchIndex:
    """An index directory written by :func:`semcse.embed.embed_corpus`, plus its model for queries."""

    def __init__(self, directory: str | Path, encoder: Encoder | None = None, index_type: str = "auto", exact_limit: int = 50_000,
                 device: str | None = None):
        import pyarrow.parquet as pq

        self.dir = Path(directory)
        mpath = self.dir / "manifest.json"
        if not mpath.exists():
            raise SearchError(f"{self.dir}: not an index (no manifest.json); build one with `semcse embed`")
        try:
            self.manifest = json.loads(mpath.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise SearchError(f"{mpath}: not valid JSON ({exc}); rebuild the index with `semcse embed`") from None
        if not self.manifest.get("complete"):
            raise SearchError(f"{self.dir}: the index is incomplete (an interrupted `semcse embed`); rerun it to finish")
        if self.manifest.get("count", 0) == 0:
            raise SearchError(f"{self.dir}: the index is empty")
        try:
            vectors = np.load(self.dir / "embeddings.npy", allow_pickle=False)
            table = pq.read_table(self.dir / "embeddings.parquet", columns=["id", "title"])
        except (OSError, ValueError, EOFError) as exc:  # missing, truncated or overwritten files
            raise SearchError(f"{self.dir}: the index files are damaged ({exc.__class__.__name__}: {exc}); "
                              "rebuild the index with `semcse embed` into a new --out") from None
        if vectors.ndim != 2 or vectors.shape[0] != self.manifest.get("count"):
            raise SearchError(f"{self.dir}: embeddings.npy holds {vectors.shape}, the manifest says {self.manifest.get('count')} "
                              "vectors; rebuild the index with `semcse embed` into a new --out")
        self.ids = table.column("id").to_pylist()
        self.titles = table.column("title").to_pylist()
        if len(self.ids) != len(vectors):
            raise SearchError(f"{self.dir}: {len(vectors)} vectors but {len(self.ids)} ids; rebuild the index")
        self.similarity = self.manifest["similarity"]
        if encoder is None:
            encoder = load_encoder(self.manifest["model"], similarity=self.similarity, device=device)
        fp = self.manifest.get("model_info", {}).get("fingerprint")
        if fp and encoder.fingerprint != fp:
            raise SearchError(f"{self.dir} was built by model {self.manifest['model']!r}; the query model "
                              f"{encoder.name!r} is a different model (fingerprints differ)")
        self.encoder = encoder
        self.index = VectorIndex(vectors, self.similarity, index_type, exact_limit, cache_path=self.dir / "hnsw.faiss")

    def __len__(self) -> int:
        return len(self.ids)

    def check_query(self, query: str, truncate: bool = False) -> None:
        if not query.strip():
            raise SearchError("empty query")
        limit = self.encoder.max_seq_length
        tok = self.encoder.tokenizer
        if limit and tok is not None and not truncate:
            n = len(tok(query, add_special_tokens=True)["input_ids"])
            if n > limit:
                raise SearchError(f"the query has {n} tokens; the model reads at most {limit} (shorten it or pass --truncate)")

    def search(self, queries: str | list[str], k: int = 10, truncate: bool = False) -> list[list[Hit]]:
        """Top-``k`` hits per query (best first)."""
        if isinstance(queries, str):
            queries = [queries]
        for q in queries:
            self.check_query(q, truncate)
        qv = self.encoder.encode(queries, progress=False)
        scores, idx = self.index.query(qv, k)
        return [[Hit(r + 1, self.ids[i], self.titles[i], float(s)) for r, (s, i) in enumerate(zip(srow, irow)) if i >= 0]
                for srow, irow in zip(scores, idx)]


def search(cfg) -> list[list[Hit]]:
    """Python API of ``semcse search`` for a :class:`semcse.config.SearchConfig`."""
    idx = SearchIndex(cfg.index, index_type=cfg.index_type, exact_limit=cfg.exact_limit, device=cfg.device)
    return idx.search(list(cfg.queries), cfg.k, truncate=cfg.truncate)
