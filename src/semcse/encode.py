"""Encoders: load any model as a sentence-transformers model and encode texts fast, with a cache.

:func:`load_encoder` accepts

- a sentence-transformers model directory or hub id (its own modules, pooling and similarity),
- a plain Hugging Face encoder (directory or hub id) with a chosen ``pooling`` (``cls``, ``mean``,
  ...); it is built as ``SentenceTransformer(modules=[Transformer, Pooling])``,
- a model saved by ``semcse train`` (a sentence-transformers directory, or a training run
  directory whose ``best/``, ``final/`` or ``model/`` folder holds one).

:meth:`Encoder.encode` sorts texts by token length, encodes them in batches with dynamic padding
under ``torch.inference_mode`` and reports progress. With a ``cache_dir`` every (model, text list)
is stored once as ``<cache_dir>/<model-slug>/<key>.npy`` where ``key`` hashes the model fingerprint
(path, weights' sizes and times, pooling, max length) and the texts, so re-running a report does
not re-encode. Within one process, texts already encoded by the same encoder are reused too.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from semcse.corpus import PLAIN_SEP, render_separator
from semcse.fileio import atomic_save_npy
from semcse.progress import Progress
from semcse.similarity import get_distance

log = logging.getLogger(__name__)

POOLING_MODES = ("cls", "mean", "max", "mean_sqrt_len_tokens", "weightedmean", "lasttoken")
SIMILARITIES = ("cosine", "euclidean")
_RUN_SUBDIRS = ("best", "final", "model")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".json", ".onnx")


class EncoderError(ValueError):
    """A model that cannot be loaded or used as requested."""


def _is_st_dir(path: Path) -> bool:
    return (path / "modules.json").is_file()


def resolve_model_path(name_or_path: str) -> str:
    """A local sentence-transformers/HF directory, a training run folder resolved to its model, or the hub id unchanged."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if _is_st_dir(path) or (path / "config.json").is_file():
            return str(path)
        for sub in _RUN_SUBDIRS:
            if _is_st_dir(path / sub) or (path / sub / "config.json").is_file():
                return str(path / sub)
        raise EncoderError(f"{path}: a directory, but neither a sentence-transformers model (modules.json) nor a "
                           f"Hugging Face model (config.json), nor a training run with {'/'.join(_RUN_SUBDIRS)}/")
    if path.exists():
        raise EncoderError(f"{path}: a file, not a model directory")
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        raise EncoderError(f"model not found: {name_or_path}")
    return name_or_path


def _files_fingerprint(path: Path) -> str:
    """Sizes and modification times of a model folder's weight/config files (changes when a model is retrained)."""
    parts = []
    for f in sorted(path.rglob("*")):
        if f.is_file() and f.suffix in _WEIGHT_SUFFIXES and "checkpoint-" not in str(f.relative_to(path)):
            st = f.stat()
            parts.append(f"{f.relative_to(path)}:{st.st_size}:{int(st.st_mtime)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def texts_hash(texts: Sequence[str]) -> str:
    """A stable hash of an ordered text list."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[-60:] or "model"


@dataclass
class Encoder:
    """A loaded model plus what is needed to compare and cache its embeddings.

    ``similarity_fn_name`` is ``cosine`` or ``euclidean``: the model's own (as saved by
    sentence-transformers / ``semcse train``) unless overridden when loading. ``fingerprint``
    identifies model weights and settings for the embedding cache.
    """

    model: Any  # sentence_transformers.SentenceTransformer
    name: str
    source: str
    similarity_fn_name: str
    pooling: str | None
    fingerprint: str
    info: dict[str, Any] = field(default_factory=dict)
    memo_limit: int = 50_000  # texts kept in memory for reuse within one process; 0 = off (e.g. one pass over a corpus)
    _memo: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    encode_seconds: float = 0.0  # time spent in the model (not cache hits)
    encoded_texts: int = 0

    @property
    def distance(self):
        """The :mod:`semcse.similarity` distance object for this encoder's similarity."""
        return get_distance(self.similarity_fn_name)

    @property
    def dim(self) -> int:
        dim = self.model.get_embedding_dimension()
        return int(dim) if dim else int(self.encode(["x"], progress=False).shape[1])

    @property
    def max_seq_length(self) -> int | None:
        return self.model.max_seq_length

    @property
    def tokenizer(self):
        return getattr(self.model, "tokenizer", None)

    @property
    def paper_separator(self) -> str:
        """What stands between a paper's title and abstract for this model (see
        :func:`semcse.corpus.join_title_abstract`): the tokenizer's separator token, else ``". "``."""
        sep = getattr(self.tokenizer, "sep_token", None)
        return sep if isinstance(sep, str) and sep else PLAIN_SEP

    def describe(self) -> dict[str, Any]:
        """Plain-JSON description for reports."""
        return {"name": self.name, "source": self.source, "similarity": self.similarity_fn_name, "pooling": self.pooling,
                "max_seq_length": self.max_seq_length, "dim": self.model.get_embedding_dimension(),
                "fingerprint": self.fingerprint, **self.info}

    # ---- encoding ------------------------------------------------------------------------------

    def _token_lengths(self, texts: Sequence[str]) -> np.ndarray:
        tok = self.tokenizer
        if tok is None or not getattr(tok, "is_fast", False):
            return np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        max_len = self.max_seq_length or getattr(tok, "model_max_length", 512)
        enc = tok(list(texts), add_special_tokens=True, truncation=True, max_length=max_len,
                  return_attention_mask=False, return_token_type_ids=False)
        return np.fromiter((len(ids) for ids in enc["input_ids"]), dtype=np.int64, count=len(texts))

    @torch.inference_mode()
    def _encode_uncached(self, texts: Sequence[str], batch_size: int, progress: bool, description: str) -> np.ndarray:
        """Encode in batches of texts of similar token length (longest first); rows in input order."""
        n = len(texts)
        if n == 0:
            return np.zeros((0, self.model.get_embedding_dimension() or 0), dtype=np.float32)
        start = time.perf_counter()
        model = self.model
        model.eval()
        order = np.argsort(-self._token_lengths(texts), kind="stable")
        prompt = _default_prompt(model)
        device = model.device
        out: np.ndarray | None = None
        bar = Progress(description, total=n, unit="texts", rates=("texts",), enabled=progress)
        try:
            for s in range(0, n, batch_size):
                idx = order[s : s + batch_size]
                batch = [texts[i] for i in idx]
                features = model.preprocess(batch, prompt=prompt) if prompt else model.preprocess(batch)
                features = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in features.items()}
                emb = model(features)["sentence_embedding"]
                if getattr(model, "truncate_dim", None):
                    emb = emb[:, : model.truncate_dim]
                emb = emb.float().cpu().numpy()
                if out is None:
                    out = np.empty((n, emb.shape[1]), dtype=np.float32)
                out[idx] = emb
                bar.advance(len(idx), texts=len(idx))
        finally:
            bar.close()
        self.encode_seconds += time.perf_counter() - start
        self.encoded_texts += n
        assert out is not None
        return out

    def cache_path(self, texts: Sequence[str], cache_dir: str | Path) -> Path:
        """Where the embeddings of exactly this text list are cached."""
        key = hashlib.sha256(f"{self.fingerprint}\n{texts_hash(texts)}".encode()).hexdigest()[:32]
        return Path(cache_dir) / _slug(self.name) / f"{key}.npy"

    def encode(self, texts: Sequence[str], batch_size: int = 32, cache_dir: str | Path | None = None,
               progress: bool = True, description: str | None = None) -> np.ndarray:
        """Embeddings of ``texts`` as a float32 array ``(len(texts), dim)``, rows in input order.

        With ``cache_dir``, the array for this (model, text list) is read from / written to disk.
        Texts seen before by this encoder in this process are not encoded again; duplicates in
        ``texts`` are encoded once.
        """
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not a single string")
        sep = self.paper_separator
        texts = [render_separator(t, sep) if isinstance(t, str) else t for t in texts]
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            raise EncoderError(f"encode(): item {bad[0]} is {type(texts[bad[0]]).__name__}, not a string")
        path = self.cache_path(texts, cache_dir) if cache_dir is not None else None
        if path is not None and path.is_file():
            try:
                arr = np.load(path, allow_pickle=False)
                if arr.shape[0] == len(texts):
                    self._remember(texts, arr)
                    return arr
                log.warning("%s: cached array has %d rows for %d texts; re-encoding", path, arr.shape[0], len(texts))
            except (OSError, ValueError) as exc:
                log.warning("%s: unreadable cache file (%s); re-encoding", path, exc)
        unique = list(dict.fromkeys(t for t in texts if t not in self._memo))
        fresh: dict[str, np.ndarray] = {}
        if unique:
            new = self._encode_uncached(unique, batch_size, progress, description or f"encode [{self.name}]")
            fresh = dict(zip(unique, new))
        if not texts:
            arr = np.zeros((0, self.model.get_embedding_dimension() or 0), dtype=np.float32)
        else:
            arr = np.stack([fresh[t] if t in fresh else self._memo[t] for t in texts]).astype(np.float32, copy=False)
        if unique:
            self._remember(unique, new)
        if path is not None:
            atomic_save_npy(path, arr)
        return arr

    def _remember(self, texts: Sequence[str], arr: np.ndarray) -> None:
        if self.memo_limit <= 0:
            return
        if len(self._memo) + len(texts) > self.memo_limit:
            self._memo.clear()
        for t, row in zip(texts, arr):
            self._memo[t] = row


@dataclass(frozen=True)
class KnownModel:
    """How a published encoder is meant to be used (a row of ``semcse/known_models.toml``)."""

    id: str
    pooling: str
    similarity: str
    max_seq_length: int
    text: str
    source: str


@functools.lru_cache(maxsize=1)
def known_models() -> tuple[KnownModel, ...]:
    """The table of known models shipped with semcse."""
    import tomllib
    from importlib import resources

    rows = tomllib.loads(resources.files("semcse").joinpath("known_models.toml").read_text(encoding="utf-8"))["models"]
    return tuple(KnownModel(**row) for row in rows)


def find_known_model(name_or_path: str) -> KnownModel | None:
    """The known model that ``name_or_path`` names: its hub id, a local folder whose path ends with the
    id, or a local folder named like the id's last part (``.../specter2_base``)."""
    text = str(name_or_path).rstrip("/").lower()
    local = Path(name_or_path).expanduser().exists()
    for model in known_models():
        ident = model.id.lower()
        if text == ident or text.endswith("/" + ident) or (local and Path(text).name == ident.rsplit("/", 1)[-1]):
            return model
    return None


def _plain_hugging_face(source: str, local: bool) -> bool:
    """A Hugging Face model without sentence-transformers files (so no pooling of its own)."""
    if local:
        return not _is_st_dir(Path(source)) and (Path(source) / "config.json").is_file()
    try:
        from sentence_transformers.util import is_sentence_transformer_model

        return not is_sentence_transformer_model(source)
    except Exception:  # noqa: BLE001 - the hub cannot tell: let sentence-transformers decide
        return False


def _length_limit(model) -> int | None:
    """The longest input the model can take: its position embeddings (514 of RoBERTa-style models, two
    of them reserved, count as 512); else its tokenizer's limit. (A saved tokenizer's limit may be the
    length a model was trained at, not what it can take.)"""
    cfg = getattr(getattr(model[0], "auto_model", None), "config", None)
    positions = getattr(cfg, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        return positions - 2 if positions % 128 == 2 else positions
    tok_limit = getattr(getattr(model, "tokenizer", None), "model_max_length", None)
    return tok_limit if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000 else None


def parse_model_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``PATH_OR_ID`` or ``PATH_OR_ID::key=value,key=value`` (keys: name, pooling, similarity, max_seq_length)."""
    if "::" not in spec:
        return spec, {}
    path, _, opts = spec.partition("::")
    out: dict[str, str] = {}
    for item in filter(None, (o.strip() for o in opts.split(","))):
        key, eq, value = item.partition("=")
        if not eq or key not in ("name", "pooling", "similarity", "max_seq_length"):
            raise EncoderError(f"model spec {spec!r}: bad option {item!r}; use name=, pooling=, similarity=, max_seq_length=")
        out[key] = value
    return path, out


def load_encoder(name_or_path: str, pooling: str | None = None, similarity: str | None = None, *,
                 name: str | None = None, max_seq_length: int | None = None, device: str | None = None,
                 trust_remote_code: bool = False, default_max_seq_length: int | None = None) -> Encoder:
    """Load a model as an :class:`Encoder`.

    - ``pooling`` (``cls``, ``mean``, ...): build ``Transformer + Pooling`` from the model's weights,
      replacing any pooling a sentence-transformers model brings; ``None``: a known model's pooling
      (``semcse/known_models.toml``: SemCSE, SPECTER, SciNCL, ...), else a sentence-transformers
      model's own, else ``cls`` for a plain Hugging Face encoder (the SemCSE paper's choice; a
      one-line notice says so).
    - ``similarity`` (``cosine`` / ``euclidean``): overrides the similarity of the known-models table
      or the one saved with the model (default ``cosine`` when none is saved).
    - ``max_seq_length``: default the known model's, else ``default_max_seq_length`` (evaluation: 512),
      else the model's own; capped at what the model can take.
    - ``trust_remote_code`` is passed on only when set.
    Raises :class:`EncoderError` with the model name when loading fails.
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    if pooling is not None and pooling not in POOLING_MODES:
        raise EncoderError(f"{name_or_path}: unknown pooling {pooling!r}; use one of {POOLING_MODES}")
    if similarity is not None and similarity not in SIMILARITIES:
        raise EncoderError(f"{name_or_path}: unknown similarity {similarity!r}; use one of {SIMILARITIES}")
    source = resolve_model_path(str(name_or_path))
    local = Path(source).is_dir()
    is_st = local and _is_st_dir(Path(source))
    settings: dict[str, str] = {}  # where pooling / similarity / length came from, for reports
    known = find_known_model(str(name_or_path))
    if known is not None:
        for key, value in (("pooling", known.pooling), ("similarity", known.similarity), ("max_seq_length", known.max_seq_length)):
            if {"pooling": pooling, "similarity": similarity, "max_seq_length": max_seq_length}[key] is None:
                settings[key] = f"known model {known.id}"
        pooling = pooling or known.pooling
        similarity = similarity or known.similarity
        max_seq_length = max_seq_length or known.max_seq_length
        log.info("%s: known model %s: %s pooling, %s similarity, %d tokens where not set (%s)", name_or_path, known.id,
                 known.pooling, known.similarity, known.max_seq_length, known.source)
    elif pooling is None and _plain_hugging_face(source, local):
        pooling = "cls"
        settings["pooling"] = "assumed: plain Hugging Face model"
        log.warning("%s: a plain Hugging Face model (no sentence-transformers files): using its [CLS] embedding, the "
                    "SemCSE paper's choice (set PATH::pooling=mean or --pooling to change)", name_or_path)
    kwargs: dict[str, Any] = {"device": device} if device else {}  # None: sentence-transformers picks cuda/mps/cpu
    if trust_remote_code:
        kwargs["trust_remote_code"] = True
    try:
        if pooling is None:
            model = SentenceTransformer(source, **kwargs)
            used_pooling = next((str(m.pooling_mode) for m in model if isinstance(m, Pooling)), None)
        else:
            mk = {"trust_remote_code": True} if trust_remote_code else {}
            tr_path = source
            normalize = False
            if is_st:  # take the transformer weights from the ST folder; keep its Normalize step
                mods = json.loads((Path(source) / "modules.json").read_text())
                tr = next((m for m in mods if m.get("type", "").endswith("Transformer")), None)
                if tr is None:
                    raise EncoderError(f"{source}: no Transformer module in modules.json; cannot change its pooling")
                tr_path = str(Path(source) / tr.get("path", ""))
                normalize = any(m.get("type", "").endswith("Normalize") for m in mods)
            transformer = Transformer(tr_path, model_kwargs=mk, processor_kwargs=mk, config_kwargs=mk)
            modules = [transformer, Pooling(transformer.get_embedding_dimension(), pooling)]
            if normalize:
                modules.append(Normalize())
            model = SentenceTransformer(modules=modules, **kwargs)
            used_pooling = pooling
    except EncoderError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything transformers / hub raises
        raise EncoderError(f"could not load model {name_or_path!r}: {type(exc).__name__}: {exc}") from exc
    limit = _length_limit(model)
    if max_seq_length is None and default_max_seq_length is not None:
        max_seq_length = min(default_max_seq_length, limit) if limit else default_max_seq_length
    if max_seq_length is not None:
        if limit is not None and int(max_seq_length) > limit:
            log.info("%s: max length %d is more than the model takes; using %d", name_or_path, int(max_seq_length), limit)
            max_seq_length = limit
        model.max_seq_length = int(max_seq_length)
    saved_similarity = getattr(model, "_similarity_fn_name", None)
    sim = similarity or (saved_similarity if saved_similarity in SIMILARITIES else None) or "cosine"
    if similarity is None and saved_similarity not in (None, *SIMILARITIES):
        log.warning("%s: saved similarity %r is not supported here; using cosine", name_or_path, saved_similarity)
    if local:
        weights = _files_fingerprint(Path(source))
        origin = str(Path(source).resolve())
    else:
        cfg = getattr(getattr(model[0], "auto_model", None), "config", None)
        weights = str(getattr(cfg, "_commit_hash", None) or "hub")
        origin = source
    fp_src = json.dumps({"origin": origin, "weights": weights, "pooling": used_pooling, "max_len": model.max_seq_length,
                         "modules": [type(m).__name__ for m in model]}, sort_keys=True)
    fingerprint = hashlib.sha256(fp_src.encode()).hexdigest()[:16]
    display = name or (Path(source).name if local else source)
    if local and display in _RUN_SUBDIRS:
        display = Path(source).parent.name
    info = {"kind": "sentence-transformers" if pooling is None else "transformers+pooling",
            "saved_similarity": saved_similarity, "settings_from": settings,
            "known_model": known.id if known else None}
    encoder = Encoder(model=model, name=display, source=source, similarity_fn_name=sim, pooling=used_pooling,
                      fingerprint=fingerprint, info=info)
    info["paper_separator"] = encoder.paper_separator
    return encoder


def load_encoder_spec(spec: str, *, pooling: str | None = None, similarity: str | None = None,
                      max_seq_length: int | None = None, device: str | None = None,
                      trust_remote_code: bool = False, default_max_seq_length: int | None = None) -> Encoder:
    """:func:`load_encoder` from a CLI spec ``PATH::name=X,pooling=cls,similarity=euclidean``; spec options win."""
    path, opts = parse_model_spec(spec)
    msl = opts.get("max_seq_length")
    return load_encoder(path, pooling=opts.get("pooling", pooling), similarity=opts.get("similarity", similarity),
                        name=opts.get("name"), max_seq_length=int(msl) if msl else max_seq_length, device=device,
                        trust_remote_code=trust_remote_code, default_max_seq_length=default_max_seq_length)


def _default_prompt(model: Any) -> str | None:
    """The prompt sentence-transformers' ``encode`` would prepend by default (the model's
    ``default_prompt_name`` in its ``prompts``), from the public attributes."""
    name = getattr(model, "default_prompt_name", None)
    return (getattr(model, "prompts", None) or {}).get(name) if name else None
