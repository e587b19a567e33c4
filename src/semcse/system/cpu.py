"""CPU features and a portable llama.cpp build for them (standard library only).

``scripts/install.sh`` runs this file as a script before semcse is installed::

    python src/semcse/system/cpu.py cmake-args   # -> -DGGML_NATIVE=OFF -DGGML_AVX2=ON ...
    python src/semcse/system/cpu.py key          # -> short id of the instruction-set level

The build never uses ``-march=native`` and never turns AMX on: on some VMs cpuid advertises AMX
but ``tileloadd`` traps (SIGILL). On an Intel Xeon KVM guest (family 6 model 167, 2026-12-07) a
one-thread probe of the tile instructions ran, yet a build with ggml's AMX kernels died with SIGILL
on ``tileloadd`` in a worker thread at the first batched decode, so a probe cannot vouch for it
either. Each GGML switch is set from the CPU's own flags, so an
AVX2-only CPU gets an AVX2 build and an AVX-512 CPU an AVX-512 one; the wheel is cached under
this key, never in pip's cache, so a build is not carried to a CPU with fewer features.
"""
from __future__ import annotations

import hashlib
import platform
import sys
from pathlib import Path

# GGML CMake switch -> the /proc/cpuinfo flags it needs (all of them)
GGML_SWITCHES: dict[str, tuple[str, ...]] = {
    "GGML_SSE42": ("sse4_2",),
    "GGML_AVX": ("avx",),
    "GGML_AVX2": ("avx2",),
    "GGML_BMI2": ("bmi2",),
    "GGML_FMA": ("fma",),
    "GGML_F16C": ("f16c",),
    "GGML_AVX_VNNI": ("avx_vnni",),
    # ggml's AVX512 switch compiles with -mavx512f -mavx512cd -mavx512vl -mavx512dq -mavx512bw
    "GGML_AVX512": ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw"),
    "GGML_AVX512_VBMI": ("avx512f", "avx512vbmi"),
    "GGML_AVX512_VNNI": ("avx512f", "avx512_vnni"),
    "GGML_AVX512_BF16": ("avx512f", "avx512_bf16"),
}
# never on: advertised by cpuid on VMs where the tile instructions trap
ALWAYS_OFF = ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")

# llama.cpp's own report (llama_print_system_info) name -> /proc/cpuinfo flags it needs
SYSTEM_INFO_FLAGS: dict[str, tuple[str, ...]] = {
    "SSE3": ("pni",),
    "SSSE3": ("ssse3",),
    "AVX": ("avx",),
    "AVX_VNNI": ("avx_vnni",),
    "AVX2": ("avx2",),
    "F16C": ("f16c",),
    "FMA": ("fma",),
    "BMI2": ("bmi2",),
    "AVX512": ("avx512f",),
    "AVX512_VBMI": ("avx512vbmi",),
    "AVX512_VNNI": ("avx512_vnni",),
    "AVX512_BF16": ("avx512_bf16",),
    "AMX_INT8": ("amx_int8",),
}


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The instruction-set flags of the first CPU in ``cpuinfo`` (empty when unreadable)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split())
    return set()


def ggml_switches(flags: set[str]) -> dict[str, bool]:
    """Every GGML instruction-set switch, on exactly when the CPU has what it needs; AMX off."""
    switches = {name: all(f in flags for f in needed) for name, needed in GGML_SWITCHES.items()}
    switches.update({name: False for name in ALWAYS_OFF})
    return switches


def ggml_cmake_args(flags: set[str]) -> list[str]:
    """CMake arguments for a non-native llama.cpp CPU build that runs on a CPU with ``flags``."""
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return ["-DGGML_NATIVE=OFF"]  # other architectures: ggml's generic baseline
    on_off = {True: "ON", False: "OFF"}
    return ["-DGGML_NATIVE=OFF"] + [f"-D{k}={on_off[v]}" for k, v in ggml_switches(flags).items()]


def build_key(cmake_args: str) -> str:
    """A short id for a build configuration (wheel cache folder name)."""
    return f"{platform.machine()}-{hashlib.sha256(cmake_args.encode()).hexdigest()[:12]}"


def unsupported_by_cpu(system_info: str, flags: set[str]) -> list[str]:
    """Features a llama.cpp build was compiled with (its ``llama_print_system_info`` string,
    ``"AVX = 1 | AVX2 = 1 | ..."``) that this CPU lacks: a build copied from another machine."""
    missing = []
    for part in system_info.split("|"):
        name, _, value = part.partition("=")
        name, value = name.strip(), value.strip()
        needed = SYSTEM_INFO_FLAGS.get(name)
        if needed and value == "1" and not all(f in flags for f in needed):
            missing.append(name)
    return missing


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in {"cmake-args", "key", "flags"}:
        print("usage: cpu.py cmake-args | key | flags", file=sys.stderr)
        return 2
    flags = cpu_flags()
    if argv[0] == "flags":
        print(" ".join(sorted(flags)))
    elif argv[0] == "cmake-args":
        print(" ".join(ggml_cmake_args(flags)))
    else:
        print(build_key(" ".join(ggml_cmake_args(flags))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
