"""``semcse embed``: encode a corpus into a search index directory, resumably.

Layout of the output directory::

    <out>/manifest.json        model (path, fingerprint, similarity, dim), corpus, text field, count
    <out>/chunks/NNNNNN.npy     finished chunks (rows in chunk order) - resume skips these
    <out>/embeddings.npy        all vectors, float32, rows in corpus order
    <out>/embeddings.parquet    id, title, vector (one row per paper)

Texts are encoded in chunks; within a chunk the encoder batches texts of similar token length.
A killed run keeps its finished chunks, and the same command continues with the next one. On a
GPU the model runs in half precision (``--fp16``, default on CUDA).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from semcse.config import EmbedConfig
from semcse.corpus import Corpus, join_title_abstract, load_corpus
from semcse.encode import Encoder, load_encoder
from semcse.fileio import atomic_open, atomic_save_npy, atomic_write_json
from semcse.progress import Progress

log = logging.getLogger(__name__)


class EmbedError(ValueError):
    """An output directory that belongs to another model or corpus, or an unusable input."""


def paper_text(title: str | None, abstract: str, sep: str | None = None) -> str:
    """The text a paper is embedded as: :func:`semcse.corpus.join_title_abstract` (``sep`` None: the
    encoder's tokenizer separator, as everywhere else)."""
    return join_title_abstract(title, abstract) if sep is None else join_title_abstract(title, abstract, sep)


def _fingerprint_texts(ids: list[str], texts: list[str]) -> str:
    import hashlib

    h = hashlib.sha256()
    for i, t in zip(ids, texts):
        h.update(i.encode("utf-8", "surrogatepass") + b"\x1f" + t.encode("utf-8", "surrogatepass") + b"\x1e")
    return h.hexdigest()[:24]


@dataclass
class EmbedResult:
    out: Path
    count: int
    dim: int
    seconds: float
    encoded: int  # texts encoded in this run (0 when everything was already there)

    @property
    def docs_per_s(self) -> float:
        return self.encoded / self.seconds if self.seconds > 0 else 0.0


def model_reference(model: str) -> str:
    """How a manifest names a model: an existing local path as an absolute path (so the index works from
    any directory), anything else (a hub id) as given."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


def embed_corpus(cfg: EmbedConfig, corpus: Corpus | None = None, encoder: Encoder | None = None) -> EmbedResult:
    """Encode every paper of ``cfg.corpus`` with ``cfg.model`` into ``cfg.out`` (resumable)."""
    if not cfg.out:
        raise EmbedError("embed needs an output directory (--out)")
    out = Path(cfg.out)
    corpus = corpus or load_corpus(cfg.corpus)
    ids = [p.id for p in corpus]
    texts = [paper_text(p.title, p.abstract, cfg.separator) for p in corpus]
    encoder = encoder or load_encoder(cfg.model, pooling=cfg.pooling, similarity=cfg.similarity, max_seq_length=cfg.max_seq_length,
                                      device=cfg.device, trust_remote_code=cfg.trust_remote_code)
    encoder.memo_limit = 0  # a corpus is encoded once: keep no per-text copies in memory
    fp16 = cfg.fp16 if cfg.fp16 is not None else str(encoder.model.device).startswith("cuda")
    if fp16:
        encoder.model.half()
    manifest = {
        "format": "semcse-index-v1",
        "model": model_reference(cfg.model),
        "model_info": encoder.describe(),
        "similarity": encoder.similarity_fn_name,
        "dim": encoder.dim,
        "corpus": str(cfg.corpus.source),
        "corpus_fingerprint": _fingerprint_texts(ids, texts),
        "count": len(ids),
        "chunk_size": cfg.chunk_size,
        "separator": encoder.paper_separator if cfg.separator is None else cfg.separator,
        "fp16": fp16,
    }
    out.mkdir(parents=True, exist_ok=True)
    mpath = out / "manifest.json"
    if mpath.exists():
        old = json.loads(mpath.read_text(encoding="utf-8"))
        for key in ("corpus_fingerprint", "chunk_size", "separator"):
            if old.get(key) != manifest[key]:
                raise EmbedError(f"{out} holds an index of another corpus or setting ({key} differs); use a new --out")
        if old.get("model_info", {}).get("fingerprint") != manifest["model_info"]["fingerprint"]:
            raise EmbedError(f"{out} was built with another model ({old.get('model')}); use a new --out")
    atomic_write_json(mpath, {**manifest, "complete": False})

    chunks = out / "chunks"
    chunks.mkdir(exist_ok=True)
    n_chunks = (len(texts) + cfg.chunk_size - 1) // cfg.chunk_size
    todo = [c for c in range(n_chunks) if not (chunks / f"{c:06d}.npy").exists()]
    bar = Progress("embed", total=len(texts), unit="papers", rates=("papers",), enabled=cfg.progress)
    pending = set(todo)
    bar.done = sum(min(cfg.chunk_size, len(texts) - c * cfg.chunk_size) for c in range(n_chunks) if c not in pending)
    t0 = time.perf_counter()
    encoded = 0
    try:
        for c in todo:
            part = texts[c * cfg.chunk_size : (c + 1) * cfg.chunk_size]
            arr = encoder.encode(part, batch_size=cfg.batch_size, progress=False)
            atomic_save_npy(chunks / f"{c:06d}.npy", arr.astype(np.float32, copy=False))
            encoded += len(part)
            bar.advance(len(part), papers=len(part))
    finally:
        bar.close()
    seconds = time.perf_counter() - t0
    full = np.concatenate([np.load(chunks / f"{c:06d}.npy") for c in range(n_chunks)]) if n_chunks else np.zeros((0, encoder.dim), np.float32)
    atomic_save_npy(out / "embeddings.npy", full)
    _write_parquet(out / "embeddings.parquet", ids, [p.title for p in corpus], full)
    atomic_write_json(mpath, {**manifest, "complete": True, "encode_seconds": round(seconds, 3)})
    return EmbedResult(out, len(ids), int(full.shape[1]) if full.size else encoder.dim, seconds, encoded)


def _write_parquet(path: Path, ids: list[str], titles: list[str | None], vectors: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    flat = pa.array(vectors.reshape(-1), type=pa.float32())
    table = pa.table({"id": ids, "title": titles, "vector": pa.FixedSizeListArray.from_arrays(flat, dim)})
    with atomic_open(path, "wb") as fh:
        pq.write_table(table, fh)
