"""GGUF quantization with llama.cpp's quantizer, on the real SmolLM2-135M GGUF."""

from __future__ import annotations

import pytest

from semcse.config import SamplingConfig
from semcse.summaries.backends.base import PaperJob, Request
from semcse.summaries.backends.llamacpp import LlamaCppBackend
from semcse.summaries.backends.quantize import quantize_gguf, quantized_name


def test_quantize_gguf_makes_a_loadable_q8_0_once(tmp_path, gguf_path, monkeypatch, llama_engine):
    import llama_cpp

    out = quantize_gguf(gguf_path, "q8_0", cache_dir=tmp_path)
    assert out.name == quantized_name(gguf_path.name, "q8_0") == "SmolLM2-135M-Instruct.Q4_1.Q8_0.gguf"
    assert out.is_relative_to(tmp_path) and out.stat().st_size > gguf_path.stat().st_size  # 8 bits per weight, not 4
    assert not [p for p in out.parent.iterdir() if p != out]  # no temporary file left
    stamp = out.stat().st_mtime_ns
    monkeypatch.setattr(llama_cpp, "llama_model_quantize", lambda *a: pytest.fail("converted twice"))
    b = LlamaCppBackend(gguf_path, quantization="q8_0", cache_dir=tmp_path, n_parallel=1)
    try:
        assert b.model_name == out.name and b.model.metadata()["general.file_type"] == "7"  # LLAMA_FTYPE_MOSTLY_Q8_0
        job = PaperJob("p", [Request("x", 0, [{"role": "user", "content": "Say hello."}])])
        [(_, [gen])] = list(b.run([job], SamplingConfig(max_tokens=4)))
    finally:
        b.close()
    assert gen.tokens > 0 and out.stat().st_mtime_ns == stamp
    assert quantize_gguf(gguf_path, "as-shipped", cache_dir=tmp_path) == gguf_path
