"""Encoder loading, encoding fidelity, ordering and the on-disk embedding cache (offline all-MiniLM-L6-v2)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semcse.encode import Encoder, EncoderError, load_encoder, load_encoder_spec, parse_model_spec, resolve_model_path

TEXTS = [
    "Graph neural networks for molecule property prediction.",
    "We study the convergence of stochastic gradient descent on non-convex objectives and give a rate.",
    "A",
    "Protein folding with attention.",
    "Mixed precision training improves the speed and energy efficiency of training deep neural networks by "
    "leveraging fast hardware support for half-precision floating point arithmetic. " * 3,
    "Graph neural networks for molecule property prediction.",  # duplicate
]


@pytest.fixture(scope="module")
def enc(minilm_path) -> Encoder:
    return load_encoder(minilm_path)


def test_loads_sentence_transformers_model(enc):
    assert enc.similarity_fn_name == "cosine"  # nothing saved -> sentence-transformers' default
    assert enc.pooling == "mean" and enc.max_seq_length == 256 and enc.dim == 384
    assert enc.distance.name == "cosine"
    assert enc.info["kind"] == "sentence-transformers"


def test_encode_matches_sentence_transformers(enc):
    ref = enc.model.encode(TEXTS, batch_size=2, convert_to_numpy=True, show_progress_bar=False)
    got = enc.encode(TEXTS, batch_size=2, progress=False)
    assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=2e-5)
    np.testing.assert_array_equal(got[0], got[5])


def test_a_models_default_prompt_is_prepended_as_sentence_transformers_does(minilm_path):
    plain = load_encoder(minilm_path).encode(TEXTS[:3], progress=False)
    enc = load_encoder(minilm_path)  # (a prompt is part of the model as loaded: set it before encoding)
    enc.model.prompts, enc.model.default_prompt_name = {"query": "query: "}, "query"
    ref = enc.model.encode(TEXTS[:3], convert_to_numpy=True, show_progress_bar=False)
    got = enc.encode(TEXTS[:3], progress=False)
    np.testing.assert_allclose(got, ref, atol=2e-5)
    assert np.abs(got - plain).max() > 1e-2  # the prompt changed the embeddings


def test_encode_keeps_input_order_across_batches(minilm_path):
    e = load_encoder(minilm_path)
    a = e.encode(TEXTS[:5], batch_size=1, progress=False)
    b = load_encoder(minilm_path).encode(list(reversed(TEXTS[:5])), batch_size=3, progress=False)
    np.testing.assert_allclose(a, b[::-1], atol=2e-5)


def test_cache_roundtrip_and_no_reencode(minilm_path, tmp_path):
    e = load_encoder(minilm_path)
    first = e.encode(TEXTS, cache_dir=tmp_path, progress=False)
    files = list(tmp_path.rglob("*.npy"))
    assert len(files) == 1 and files[0] == e.cache_path(TEXTS, tmp_path)
    fresh = load_encoder(minilm_path)  # new process-like state: empty memo

    def boom(*a, **k):
        raise AssertionError("re-encoded a cached text set")

    fresh._encode_uncached = boom
    np.testing.assert_array_equal(fresh.encode(TEXTS, cache_dir=tmp_path, progress=False), first)
    # another text list is another cache entry (and needs encoding)
    with pytest.raises(AssertionError, match="re-encoded"):
        fresh.encode(TEXTS[:2] + ["a new text"], cache_dir=tmp_path, progress=False)
    # a corrupt cache file is re-encoded with a warning, not fatal
    files[0].write_bytes(b"garbage")
    np.testing.assert_allclose(load_encoder(minilm_path).encode(TEXTS, cache_dir=tmp_path, progress=False), first, atol=2e-5)


def test_memo_reuses_texts_within_process(enc):
    enc.encode(TEXTS[:3], progress=False)
    before = enc.encoded_texts
    enc.encode(TEXTS[:3] + TEXTS[:1], progress=False)
    assert enc.encoded_texts == before


def test_cache_key_depends_on_model_settings(minilm_path, tmp_path):
    a = load_encoder(minilm_path)
    b = load_encoder(minilm_path, max_seq_length=64)
    c = load_encoder(minilm_path, pooling="cls")
    keys = {a.cache_path(TEXTS, tmp_path), b.cache_path(TEXTS, tmp_path), c.cache_path(TEXTS, tmp_path)}
    assert len(keys) == 3
    assert a.fingerprint == load_encoder(minilm_path).fingerprint


def test_plain_transformer_with_cls_pooling(minilm_path):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    e = load_encoder(minilm_path, pooling="cls", similarity="euclidean")
    assert e.pooling == "cls" and e.similarity_fn_name == "euclidean" and e.distance.name == "euclidean"
    assert e.info["kind"] == "transformers+pooling"
    tr = Transformer(minilm_path)
    ref = SentenceTransformer(modules=[tr, Pooling(tr.get_embedding_dimension(), "cls"), Normalize()], device="cpu")
    np.testing.assert_allclose(e.encode(TEXTS[:3], progress=False),
                               ref.encode(TEXTS[:3], show_progress_bar=False), atol=2e-5)
    mean = load_encoder(minilm_path).encode(TEXTS[:1], progress=False)
    assert not np.allclose(e.encode(TEXTS[:1], progress=False), mean, atol=1e-3)


def test_hf_directory_without_sentence_transformers_config(minilm_path, tmp_path):
    import shutil

    plain = tmp_path / "plain"
    shutil.copytree(minilm_path, plain, ignore=shutil.ignore_patterns("modules.json", "1_Pooling", "2_Normalize",
                                                                      "sentence_bert_config.json", "config_sentence_transformers.json"))
    e = load_encoder(str(plain), pooling="mean")
    assert e.pooling == "mean" and e.name == "plain"
    assert e.encode(TEXTS[:2], progress=False).shape == (2, 384)


def test_saved_similarity_is_used(minilm_path, tmp_path):
    import shutil

    m = tmp_path / "trained"
    shutil.copytree(minilm_path, m / "best")
    cfg = m / "best" / "config_sentence_transformers.json"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "similarity_fn_name": "euclidean"}))
    e = load_encoder(str(m))  # a training run folder resolves to its best/ model
    assert e.source.endswith("best") and e.name == "trained"
    assert e.similarity_fn_name == "euclidean" and e.info["saved_similarity"] == "euclidean"
    assert load_encoder(str(m), similarity="cosine").similarity_fn_name == "cosine"


def test_bad_inputs(minilm_path, tmp_path, enc):
    with pytest.raises(EncoderError, match="unknown pooling 'avg'"):
        load_encoder(minilm_path, pooling="avg")
    with pytest.raises(EncoderError, match="unknown similarity 'dot'"):
        load_encoder(minilm_path, similarity="dot")
    with pytest.raises(EncoderError, match="model not found"):
        load_encoder(str(tmp_path / "missing" / "model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(EncoderError, match="neither a sentence-transformers model"):
        resolve_model_path(str(tmp_path / "empty"))
    with pytest.raises(TypeError):
        enc.encode("a single string")
    with pytest.raises(EncoderError, match="item 1"):
        enc.encode(["ok", None])
    assert enc.encode([], progress=False).shape == (0, 384)


def test_model_spec(minilm_path):
    assert parse_model_spec("org/model") == ("org/model", {})
    assert parse_model_spec("x::name=A,pooling=cls,similarity=euclidean") == (
        "x", {"name": "A", "pooling": "cls", "similarity": "euclidean"})
    with pytest.raises(EncoderError, match="bad option"):
        parse_model_spec("x::colour=red")
    e = load_encoder_spec(f"{minilm_path}::name=B,max_seq_length=32")
    assert e.name == "B" and e.max_seq_length == 32


def test_memo_can_be_turned_off(minilm_path):
    e = load_encoder(minilm_path)
    e.memo_limit = 0
    a = e.encode(TEXTS[:3], progress=False)
    assert not e._memo and a.shape == (3, 384)
    e.encode(TEXTS[:3], progress=False)
    assert e.encoded_texts == 6  # encoded again: nothing remembered


def test_memo_overflow_keeps_results_correct(minilm_path):
    e = load_encoder(minilm_path)
    e.memo_limit = 3
    a = e.encode(TEXTS[:3], progress=False)
    b = e.encode(TEXTS[:3] + TEXTS[3:5], progress=False)  # overflows the memo while old rows are needed
    np.testing.assert_allclose(b[:3], a, atol=2e-5)


def _plain_save(minilm_path, folder):
    """The offline MiniLM saved as a plain Hugging Face model (no sentence-transformers files)."""
    import shutil

    shutil.copytree(minilm_path, folder, ignore=shutil.ignore_patterns(
        "modules.json", "1_Pooling", "2_Normalize", "sentence_bert_config.json", "config_sentence_transformers.json"))
    return str(folder)


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_known_models_are_loaded_as_published_and_unknown_plain_models_with_cls(minilm_path, tmp_path, caplog):
    import logging

    known = load_encoder(_plain_save(minilm_path, tmp_path / "all-MiniLM-L6-v2"))  # named like a row of the table
    assert known.info["known_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert (known.pooling, known.similarity_fn_name, known.max_seq_length) == ("mean", "cosine", 256)
    assert known.info["settings_from"]["pooling"] == "known model sentence-transformers/all-MiniLM-L6-v2"
    st_model = load_encoder(minilm_path)  # the sentence-transformers original: mean pooling + Normalize
    np.testing.assert_allclose(_unit(known.encode(TEXTS[:3], progress=False)), st_model.encode(TEXTS[:3], progress=False), atol=2e-5)

    specter_like = load_encoder(_plain_save(minilm_path, tmp_path / "hub" / "allenai" / "specter"))
    assert (specter_like.pooling, specter_like.similarity_fn_name, specter_like.max_seq_length) == ("cls", "cosine", 512)

    with caplog.at_level(logging.WARNING, logger="semcse"):
        unknown = load_encoder(_plain_save(minilm_path, tmp_path / "my-encoder"))
    assert unknown.pooling == "cls" and unknown.info["settings_from"] == {"pooling": "assumed: plain Hugging Face model"}
    assert "plain Hugging Face model" in caplog.text and "[CLS]" in caplog.text
    cls = load_encoder(minilm_path, pooling="cls")  # CLS of the same weights (+ the original's Normalize)
    np.testing.assert_allclose(_unit(unknown.encode(TEXTS[:2], progress=False)), cls.encode(TEXTS[:2], progress=False), atol=2e-5)

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="semcse"):
        chosen = load_encoder_spec(str(tmp_path / "my-encoder") + "::pooling=mean,similarity=euclidean,max_seq_length=99999")
    assert (chosen.pooling, chosen.similarity_fn_name) == ("mean", "euclidean") and "plain Hugging Face" not in caplog.text
    assert chosen.max_seq_length == 512  # capped at the model's position embeddings


def test_a_paper_is_title_separator_abstract_with_the_tokenizers_separator(enc):
    from semcse.corpus import PAPER_SEP, join_title_abstract, render_separator

    doc = join_title_abstract(" Graph networks ", "We predict molecules.")
    assert doc == f"Graph networks{PAPER_SEP}We predict molecules."
    assert enc.paper_separator == "[SEP]" and enc.info["paper_separator"] == "[SEP]"
    np.testing.assert_allclose(enc.encode([doc], progress=False), enc.encode(["Graph networks[SEP]We predict molecules."],
                                                                              progress=False), atol=1e-6)
    assert render_separator(join_title_abstract("Why?", "Because."), ". ") == "Why? Because."
    assert join_title_abstract("A title", "An abstract.", ". ") == "A title. An abstract."
    assert join_title_abstract(None, "Only abstract.") == "Only abstract." and join_title_abstract("T", "") == "T"
