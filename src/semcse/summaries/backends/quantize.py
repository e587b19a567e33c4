"""GGUF quantization: a llama.cpp model file converted once to Q8_0, Q4_0 or IQ4_NL and cached on disk."""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import tempfile
from pathlib import Path

from semcse.summaries.backends.base import BackendError

log = logging.getLogger(__name__)

QUANTIZATIONS = ("as-shipped", "q8_0", "q4_0", "iq4_nl")
_FTYPES = {"q8_0": 7, "q4_0": 2, "iq4_nl": 25}  # llama_ftype: LLAMA_FTYPE_MOSTLY_Q8_0, _Q4_0, _IQ4_NL


def model_cache_dir() -> Path:
    """Where converted GGUFs are kept: ``$SEMCSE_CACHE/models``, else ``$XDG_CACHE_HOME/semcse/models``,
    else ``~/.cache/semcse/models``."""
    if os.environ.get("SEMCSE_CACHE"):
        return Path(os.environ["SEMCSE_CACHE"]) / "models"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "semcse" / "models"


def quantized_name(name: str, quantization: str) -> str:
    """The file name of GGUF ``name`` converted to ``quantization`` (``name`` itself when as shipped):
    ``SmolLM2-135M-Instruct.Q4_1.gguf`` -> ``SmolLM2-135M-Instruct.Q4_1.Q8_0.gguf``."""
    if quantization == "as-shipped":
        return name
    stem = name[: -len(".gguf")] if name.endswith(".gguf") else name
    return f"{stem}.{quantization.upper()}.gguf"


def quantize_gguf(source: str | os.PathLike, quantization: str, cache_dir: str | os.PathLike | None = None,
                  n_threads: int | None = None) -> Path:
    """``source`` converted to ``quantization`` (``q8_0``, ``q4_0`` or ``iq4_nl``) with llama.cpp's quantizer, once:
    the file is cached under ``cache_dir`` (default :func:`model_cache_dir`) in a folder keyed by the
    source's path, size and modification time, written atomically, and reused by later calls.
    ``as-shipped`` returns ``source`` itself."""
    source = Path(source)
    if quantization == "as-shipped":
        return source
    if quantization not in _FTYPES:
        raise BackendError(f"unknown quantization {quantization!r} (one of {', '.join(QUANTIZATIONS)})")
    try:
        st = source.stat()
    except OSError as exc:
        raise BackendError(f"model file not found: {source}") from exc
    key = hashlib.sha1(f"{source.resolve()}\x1f{st.st_size}\x1f{st.st_mtime_ns}".encode()).hexdigest()[:12]
    out = Path(cache_dir or model_cache_dir()) / key / quantized_name(source.name, quantization)
    if out.exists():
        return out
    import llama_cpp

    llama_cpp.llama_backend_init()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = _FTYPES[quantization]
        params.allow_requantize = True  # the source is quantized already (Q4_1 as shipped)
        params.nthread = n_threads or 0
        log.info("converting %s to %s (once; cached at %s)", source.name, quantization, out)
        rc = llama_cpp.llama_model_quantize(str(source).encode(), tmp.encode(), ctypes.byref(params))
        if rc != 0:
            raise BackendError(f"llama.cpp could not convert {source.name} to {quantization} (code {rc})")
        os.replace(tmp, out)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return out
