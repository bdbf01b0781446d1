#!/usr/bin/env bash
# The whole built-in-model training, in order, each stage resuming or skipping what is done:
# tokenizer -> token cubes (test, then train in the background) -> GPT n=1 -> n=4 -> n=16.
#   nohup nice -n 19 tools/train_pipeline.sh > runs/pipeline.log 2>&1 &
# Stage lengths can be overridden from the environment (keep them fixed across restarts:
# the learning-rate schedules depend on them).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p runs
TOK_STEPS=${TOK_STEPS:-6000}
TRAIN_CLIPS=${TRAIN_CLIPS:-20200}
N1_STEPS=${N1_STEPS:-3000}
N4_STEPS=${N4_STEPS:-1000}
N16_STEPS=${N16_STEPS:-1000}
log() { echo "$(date -u +%H:%M:%S) pipeline: $*"; }

log "tokenizer to $TOK_STEPS steps"
python3 tools/train_tokenizer.py --steps "$TOK_STEPS" >> runs/tokenizer.log 2>&1
log "encoding held-out clips"
python3 tools/encode_synthaction.py --split test --count 1010 >> runs/encode_test.log 2>&1
log "encoding $TRAIN_CLIPS training clips in the background"
python3 tools/encode_synthaction.py --split train --count "$TRAIN_CLIPS" >> runs/encode.log 2>&1 &
log "gpt n=1 to $N1_STEPS steps"
python3 tools/train_gpt.py --name gpt_n1 --parallel 1 --steps "$N1_STEPS" >> runs/gpt_n1.log 2>&1
wait
log "gpt n=4 to $N4_STEPS steps"
python3 tools/train_gpt.py --name gpt_n4 --parallel 4 --init models/train/gpt_n1.pt --steps "$N4_STEPS" >> runs/gpt_n4.log 2>&1
log "gpt n=16 to $N16_STEPS steps"
python3 tools/train_gpt.py --name gpt_n16 --parallel 16 --init models/train/gpt_n1.pt --steps "$N16_STEPS" >> runs/gpt_n16.log 2>&1
log "all done"
