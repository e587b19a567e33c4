"""The portable llama.cpp build flags and the build-vs-CPU comparison."""

from __future__ import annotations

from semcse.system.cpu import build_key, cpu_flags, ggml_cmake_args, ggml_switches, unsupported_by_cpu

AVX2_ONLY = {"sse4_2", "avx", "avx2", "fma", "f16c", "bmi2"}
SAPPHIRE_RAPIDS_VM = AVX2_ONLY | {"avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw", "avx512vbmi", "avx512_vnni",
                                  "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16", "avx512_fp16"}


def test_avx2_cpu_gets_no_avx512_and_never_native():
    args = ggml_cmake_args(AVX2_ONLY)
    assert "-DGGML_NATIVE=OFF" in args and not any("march" in a for a in args)
    assert "-DGGML_AVX2=ON" in args and "-DGGML_FMA=ON" in args
    assert "-DGGML_AVX512=OFF" in args and "-DGGML_AVX512_VNNI=OFF" in args


def test_amx_is_never_enabled_even_when_advertised():
    switches = ggml_switches(SAPPHIRE_RAPIDS_VM)
    assert switches["GGML_AVX512"] and switches["GGML_AVX512_BF16"] and switches["GGML_AVX_VNNI"]
    assert not switches["GGML_AMX_TILE"] and not switches["GGML_AMX_INT8"] and not switches["GGML_AMX_BF16"]


def test_avx512_needs_all_of_its_subsets():
    assert not ggml_switches(AVX2_ONLY | {"avx512f"})["GGML_AVX512"]  # ggml also compiles -mavx512bw/-dq/-vl/-cd


def test_cpuinfo_parsing_and_keys(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu sse4_2 avx avx2\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(info) == {"fpu", "sse4_2", "avx", "avx2"}
    assert cpu_flags(tmp_path / "missing") == set()
    assert build_key(" ".join(ggml_cmake_args(AVX2_ONLY))) != build_key(" ".join(ggml_cmake_args(SAPPHIRE_RAPIDS_VM)))


def test_a_build_from_a_bigger_cpu_is_detected():
    info = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | OPENMP = 1 |"
    assert unsupported_by_cpu(info, AVX2_ONLY | {"pni", "ssse3"}) == ["AVX512", "AMX_INT8"]
    assert unsupported_by_cpu(info, SAPPHIRE_RAPIDS_VM | {"pni", "ssse3"}) == []
