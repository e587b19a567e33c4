"""The encoder to train: any Hugging Face encoder as a sentence-transformers model.

A sentence-transformers model keeps its own modules (its pooling is its convention); a plain
Hugging Face encoder gets CLS pooling, as in the paper, unless ``pooling`` says otherwise.
Weights load from safetensors only; remote code runs only when asked for.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

log = logging.getLogger(__name__)


class ModelLoadError(ValueError):
    """A base model that cannot be loaded (missing, no safetensors weights, remote code refused, ...)."""


def is_sentence_transformer(name: str) -> bool:
    """Whether ``name`` (a local folder or hub id) is a sentence-transformers model (has modules.json)."""
    if Path(name).expanduser().is_dir():
        return (Path(name).expanduser() / "modules.json").exists()
    from sentence_transformers.util.file_io import is_sentence_transformer_model

    try:
        return is_sentence_transformer_model(name, local_files_only=os.environ.get("HF_HUB_OFFLINE") == "1")
    except Exception as exc:  # network errors: treat as a plain encoder, loading reports real problems
        log.warning("could not check whether %s is a sentence-transformers model (%s); treating it as a plain encoder", name, exc)
        return False


def pooling_mode(model: SentenceTransformer) -> str | None:
    for module in model:
        if isinstance(module, Pooling):
            mode = module.pooling_mode
            return mode if isinstance(mode, str) else "+".join(mode)
    return None


def load_base_model(name: str, pooling: str = "auto", max_seq_length: int | None = 256,
                    trust_remote_code: bool = False, device: str | None = None) -> SentenceTransformer:
    """Load ``name`` (hub id or local path) for training.

    ``pooling``: ``auto`` keeps a sentence-transformers model's own pooling and gives a plain
    encoder CLS pooling; ``cls`` or ``mean`` set it explicitly.
    """
    if pooling not in ("auto", "cls", "mean"):
        raise ModelLoadError(f"unknown pooling {pooling!r}; use auto, cls or mean")
    from semcse.encode import EncoderError, resolve_model_path

    try:  # a hub id, a model folder, or a semcse run folder (resolved to its model), as everywhere else
        name = resolve_model_path(name)
    except EncoderError as exc:
        raise ModelLoadError(f"base model: {exc}") from None
    local = Path(name).exists()
    model_kwargs = {"use_safetensors": True}
    try:
        if is_sentence_transformer(name):
            model = SentenceTransformer(name, device=device,
                                        trust_remote_code=trust_remote_code, model_kwargs=model_kwargs)
            if pooling != "auto":
                for idx, module in enumerate(model):
                    if isinstance(module, Pooling) and module.pooling_mode != pooling:
                        log.info("pooling: replacing the model's %s pooling with %s", module.pooling_mode, pooling)
                        model._modules[str(idx)] = Pooling(module.embedding_dimension, pooling)
        else:
            transformer = Transformer(name, model_kwargs={**model_kwargs, "trust_remote_code": trust_remote_code},
                                      processor_kwargs={"trust_remote_code": trust_remote_code},
                                      config_kwargs={"trust_remote_code": trust_remote_code})
            mode = "cls" if pooling == "auto" else pooling
            model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), mode)], device=device)
    except (OSError, ValueError) as exc:
        hint = " (this model needs --trust-remote-code)" if "trust_remote_code" in str(exc) else ""
        raise ModelLoadError(f"could not load base model {name!r}{hint}: {exc}") from exc
    if any(p.dtype in (torch.float16, torch.bfloat16) for p in model.parameters()):
        log.info("base model weights are half precision: training keeps float32 master weights (bf16/fp16 via --precision)")
        model.float()
    if max_seq_length:
        model.max_seq_length = max_seq_length
    if local:
        model.model_card_data.local_files_only = True
    return model


def set_pad_to_multiple_of(model: SentenceTransformer, multiple: int | None) -> dict:
    """Pad token batches to a multiple of ``multiple`` (None: as long as the longest text).

    Length-grouped batches have many different widths; on a GPU every new width costs allocator
    and kernel-selection work, so rounding widths keeps the padding saving without that cost.
    Returns the previous processing options, to restore before saving.
    """
    previous: dict = {}
    for idx, module in enumerate(model):
        if isinstance(module, Transformer):
            previous[idx] = dict(module.processing_kwargs)
            text = {k: v for k, v in module.processing_kwargs.get("text", {}).items() if k != "pad_to_multiple_of"}
            if multiple:
                text["pad_to_multiple_of"] = multiple
            module.processing_kwargs = {**module.processing_kwargs, "text": text} if text else {
                k: v for k, v in module.processing_kwargs.items() if k != "text"}
    return previous


def restore_processing(model: SentenceTransformer, previous: dict) -> None:
    for idx, kwargs in previous.items():
        model[idx].processing_kwargs = kwargs


def _layer_list(encoder: torch.nn.Module) -> tuple[str, torch.nn.ModuleList] | None:
    """The encoder's list of transformer layers (``encoder.layer`` in BERT, ``layers`` in ModernBERT, ...):
    the first ``ModuleList`` as long as the config's ``num_hidden_layers``, with its qualified name."""
    n = getattr(getattr(encoder, "config", None), "num_hidden_layers", None)
    found = [(name, m) for name, m in encoder.named_modules() if isinstance(m, torch.nn.ModuleList) and len(m) == n]
    return found[0] if found else None


def freeze_lower_layers(model: SentenceTransformer, layers: int) -> dict[str, int]:
    """Freeze the input embeddings and the first ``layers`` transformer layers of ``model``'s encoder
    (partial fine-tuning: the general features of the lower layers stay as the base model learnt
    them). Returns the parameter counts left trainable and frozen. ``layers`` must be below the
    encoder's layer count (at least one layer trains)."""
    encoder = next((m.auto_model for m in model if isinstance(m, Transformer)), None)
    found = _layer_list(encoder) if encoder is not None else None
    if found is None:
        raise ModelLoadError("--freeze-layers: could not find the encoder's transformer layers in this model")
    prefix, stack = found
    if not 0 <= layers < len(stack):
        raise ModelLoadError(f"--freeze-layers must be between 0 and {len(stack) - 1} (this encoder has {len(stack)} layers); "
                             f"got {layers}")
    counts = {"trainable": 0, "frozen": 0}
    below = True  # parameters registered before the layer list: the embeddings
    for name, param in encoder.named_parameters():
        layer = name[len(prefix) + 1:].split(".", 1)[0] if name.startswith(prefix + ".") else None
        if layer is not None:
            below = False
        freeze = layers > 0 and (below or (layer is not None and int(layer) < layers))
        param.requires_grad_(not freeze)
        counts["frozen" if freeze else "trainable"] += param.numel()
    return counts
