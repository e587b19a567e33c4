"""Base model loading: the model's own pooling, CLS for plain encoders, clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from semcse.training.model import ModelLoadError, freeze_lower_layers, load_base_model, pooling_mode


def test_sentence_transformers_model_keeps_its_pooling_unless_set(minilm_path):
    model = load_base_model(minilm_path, max_seq_length=64)
    assert pooling_mode(model) == "mean" and model.max_seq_length == 64
    assert pooling_mode(load_base_model(minilm_path, pooling="cls")) == "cls"


def test_plain_encoder_gets_cls_pooling(minilm_path, tmp_path: Path):
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (Path(minilm_path) / name).exists():
            shutil.copy(Path(minilm_path) / name, plain / name)
    model = load_base_model(str(plain), max_seq_length=32)
    assert pooling_mode(model) == "cls"
    assert model.encode(["a test sentence"]).shape == (1, 384)
    assert pooling_mode(load_base_model(str(plain), pooling="mean")) == "mean"


def test_bad_base_models_are_rejected(tmp_path: Path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_base_model(str(tmp_path / "nope"))
    with pytest.raises(ModelLoadError, match="pooling"):
        load_base_model(str(tmp_path), pooling="max")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelLoadError, match="neither a sentence-transformers model"):
        load_base_model(str(empty))
    (empty / "config.json").write_text("{}")  # looks like a Hugging Face model, but is not one
    with pytest.raises(ModelLoadError, match="could not load"):
        load_base_model(str(empty))


def test_pickled_weights_are_refused(minilm_path, tmp_path: Path):
    import torch
    from safetensors.torch import load_file

    binary = tmp_path / "binary"
    binary.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        if (Path(minilm_path) / name).exists():
            shutil.copy(Path(minilm_path) / name, binary / name)
    torch.save(load_file(str(Path(minilm_path) / "model.safetensors")), binary / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="safetensors"):
        load_base_model(str(binary))


def test_freezing_lower_layers_leaves_embeddings_and_those_layers_without_gradients(minilm_path):
    model = load_base_model(minilm_path, max_seq_length=32)
    counts = freeze_lower_layers(model, 4)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any("embeddings" in n for n in trainable)
    assert {n.split("encoder.layer.")[1].split(".")[0] for n in trainable if "encoder.layer." in n} == {"4", "5"}
    assert counts["trainable"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert counts["frozen"] > counts["trainable"]  # the 30k-word embedding table is most of MiniLM
    features = model.tokenize(["a frozen layer gets no gradient"])
    model(features)["sentence_embedding"].sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert all(grads[n] is None for n in grads if n not in trainable)
    assert any(grads[n] is not None and grads[n].abs().sum() > 0 for n in trainable)
    assert freeze_lower_layers(model, 0)["frozen"] == 0  # 0 thaws every layer again
    with pytest.raises(ModelLoadError, match="between 0 and 5"):
        freeze_lower_layers(model, 6)
