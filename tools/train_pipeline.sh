#!/usr/bin/env bash
# The whole built-in-model training, in order, each stage resuming or skipping what is done:
# tokenizer -> token cubes (two encoders side by side) -> GPT n=1 -> n=4 and n=16 side by side.
#   nohup nice -n 19 tools/train_pipeline.sh > runs/pipeline.log 2>&1 &
# Stage lengths and sizes come from the environment (keep them fixed across restarts:
# the learning-rate schedules depend on them). The machine has two cores: single
# stages use both threads, paired stages one each.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs
TOK_STEPS=${TOK_STEPS:-5000}
TOK_FULL_STEPS=${TOK_FULL_STEPS:-500}
TRAIN_CLIPS=${TRAIN_CLIPS:-10100}
GPT_ARGS=${GPT_ARGS:---dim 192 --n-layer 4 --n-head 3 --batch 32}
N1_STEPS=${N1_STEPS:-1500}
N4_STEPS=${N4_STEPS:-400}
N16_STEPS=${N16_STEPS:-400}
log() { echo "$(date -u +%H:%M:%S) pipeline: $*"; }

log "tokenizer to $TOK_STEPS steps"
python3 tools/train_tokenizer.py --steps "$TOK_STEPS" --full-steps "$TOK_FULL_STEPS" --full-batch 2 \
    --offset-penalty 0.2 --threads 2 --eval-every 500 --eval-clips 32 >> runs/tokenizer.log 2>&1
half=$(( (TRAIN_CLIPS / 2 + 1009) / 1010 * 1010 ))   # chunk-aligned split point
log "encoding $TRAIN_CLIPS training clips (two encoders), then 1010 held-out ones"
python3 tools/encode_synthaction.py --split train --start 0 --count "$half" >> runs/encode.log 2>&1 &
python3 tools/encode_synthaction.py --split train --start "$half" --count "$(( TRAIN_CLIPS - half ))" >> runs/encode.log 2>&1
wait
python3 tools/encode_synthaction.py --split test --count 1010 --threads 2 >> runs/encode_test.log 2>&1
log "gpt n=1 to $N1_STEPS steps"
# shellcheck disable=SC2086
python3 tools/train_gpt.py --name gpt_n1 --parallel 1 --steps "$N1_STEPS" --threads 2 $GPT_ARGS >> runs/gpt_n1.log 2>&1
log "gpt n=4 to $N4_STEPS steps and n=16 to $N16_STEPS steps, from n=1"
# shellcheck disable=SC2086
python3 tools/train_gpt.py --name gpt_n4 --parallel 4 --init models/train/gpt_n1.pt --steps "$N4_STEPS" \
    --warmup 30 --lr 5e-4 $GPT_ARGS >> runs/gpt_n4.log 2>&1 &
# shellcheck disable=SC2086
python3 tools/train_gpt.py --name gpt_n16 --parallel 16 --init models/train/gpt_n1.pt --steps "$N16_STEPS" \
    --warmup 30 --lr 5e-4 $GPT_ARGS >> runs/gpt_n16.log 2>&1
wait
log "export to models/builtin"
python3 tools/export_builtin.py >> runs/export.log 2>&1
log "all done"
