#!/usr/bin/env bash
# The whole built-in-model training, in order, each stage resuming or skipping what is done:
# clips rendered once -> tokenizer -> token cubes (two encoders side by side) -> GPT n=1, with the
# tokenizer's decoder training on beside it (encoder frozen, so the token files stay valid) -> n=4
# and n=16 side by side.
#   nohup nice -n 19 tools/train/train_pipeline.sh > runs/pipeline.log 2>&1 &
# Stage lengths and sizes come from the environment (keep them fixed across restarts:
# the learning-rate schedules depend on them). The machine has two cores: single
# stages use both threads, paired stages one each.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p runs
TOK_STEPS=${TOK_STEPS:-12000}
TOK_ARGS=${TOK_ARGS:---full-batch 2 --lr 2e-4 --warmup 200 --offset-penalty 0}
# Weights that seed the tokenizer when neither runs/tokenizer/state.pt nor models/train/tokenizer.pt
# (of this data version) exists: the version-1 tokenizer, as the running schedule was started.
TOK_INIT=${TOK_INIT:-runs/init/tokenizer_v1_step19877.pt}
TRAIN_CLIPS=${TRAIN_CLIPS:-10100}
GPT_ARGS=${GPT_ARGS:---dim 192 --n-layer 4 --n-head 3 --batch 16}
N1_STEPS=${N1_STEPS:-3400}
N4_STEPS=${N4_STEPS:-300}
N16_STEPS=${N16_STEPS:-300}
# Decoder-only tokenizer steps run beside GPT n=1 (same run, continued past TOK_STEPS on a
# schedule to DEC_STEPS); 0 skips them.
DEC_STEPS=${DEC_STEPS:-0}
THREADS=${THREADS:-2}   # 1 while the machine is busy with other work: a 2-thread region waits for its slower thread
log() { echo "$(date -u +%H:%M:%S) pipeline: $*"; }

# The rendered clips, named by the data version (tools/train/clip_cache.py).
CLIPS="runs/data/train_v$(python3 -c 'from tools.train import synthaction; print(synthaction.VERSION)')_$TRAIN_CLIPS.npy"
log "rendering $TRAIN_CLIPS training clips once (runs/data)"
python3 -m tools.train.clip_cache --split train --count "$TRAIN_CLIPS" >> runs/clip_cache.log 2>&1
log "tokenizer to $TOK_STEPS steps"
if [ ! -f "$TOK_INIT" ] && [ ! -f models/train/tokenizer.pt ]; then
    mkdir -p "$(dirname "$TOK_INIT")"; git show 345271c:models/train/tokenizer.pt > "$TOK_INIT"
fi
[ -f "$TOK_INIT" ] && TOK_ARGS="$TOK_ARGS --init $TOK_INIT"
# shellcheck disable=SC2086
python3 -m tools.train.train_tokenizer --steps "$TOK_STEPS" --full-steps "$TOK_STEPS" $TOK_ARGS \
    --cache "$CLIPS" --threads "$THREADS" --eval-every 1000 --eval-clips 64 >> runs/tokenizer.log 2>&1
half=$(( (TRAIN_CLIPS / 2 + 1009) / 1010 * 1010 ))   # chunk-aligned split point
log "encoding $TRAIN_CLIPS training clips (two encoders), then 1010 held-out ones"
python3 -m tools.train.encode_synthaction --split train --start 0 --count "$half" >> runs/encode.log 2>&1 &
python3 -m tools.train.encode_synthaction --split train --start "$half" --count "$(( TRAIN_CLIPS - half ))" >> runs/encode.log 2>&1
wait
python3 -m tools.train.clip_cache --split test --count 1010 >> runs/clip_cache.log 2>&1
python3 -m tools.train.encode_synthaction --split test --count 1010 --threads 2 >> runs/encode_test.log 2>&1
if [ "$DEC_STEPS" -gt "$TOK_STEPS" ]; then
    log "tokenizer decoder to $DEC_STEPS steps (encoder frozen) beside gpt n=1"
    # shellcheck disable=SC2086
    python3 -m tools.train.train_tokenizer --steps "$DEC_STEPS" --full-steps "$DEC_STEPS" $TOK_ARGS --freeze-encoder \
        --cache "$CLIPS" --threads 1 --eval-every 1000 --eval-clips 64 >> runs/tokenizer.log 2>&1 &
    GPT_THREADS=1
else
    GPT_THREADS=$THREADS
fi
log "gpt n=1 to $N1_STEPS steps"
# shellcheck disable=SC2086
python3 -m tools.train.train_gpt --name gpt_n1 --parallel 1 --steps "$N1_STEPS" --threads "$GPT_THREADS" $GPT_ARGS >> runs/gpt_n1.log 2>&1
log "gpt n=4 to $N4_STEPS steps and n=16 to $N16_STEPS steps, from n=1"
# shellcheck disable=SC2086
python3 -m tools.train.train_gpt --name gpt_n4 --parallel 4 --init models/train/gpt_n1.pt --steps "$N4_STEPS" \
    --warmup 30 --lr 5e-4 $GPT_ARGS >> runs/gpt_n4.log 2>&1 &
# shellcheck disable=SC2086
python3 -m tools.train.train_gpt --name gpt_n16 --parallel 16 --init models/train/gpt_n1.pt --steps "$N16_STEPS" \
    --warmup 30 --lr 5e-4 $GPT_ARGS >> runs/gpt_n16.log 2>&1
wait    # n = 4, and the decoder when it is still going
log "export to models/builtin"
python3 -m tools.train.export_builtin >> runs/export.log 2>&1
# The figures the README reports, with the binary of this checkout. First a sampling sweep on
# held-out items the reported evaluation does not use (from 2020), to choose the bundle's
# defaults; then the evaluation at the exported defaults (tools/eval/eval_builtin.py).
swift build -c release --product par-video >> runs/build.log 2>&1
log "sampling sweep: 202 held-out clips from item 2020, n = 1 and 4 (runs/sweep)"
for cfg in ${SWEEP_CFG:-1.5 2 3 4}; do
    python3 -m tools.eval.eval_builtin --count 202 --real-start 2020 --real-check 0 --parallel 1 4 --cfg "$cfg" \
        --out runs/sweep >> runs/sweep.log 2>&1
done
for k in ${SWEEP_TOPK:-50 200}; do
    python3 -m tools.eval.eval_builtin --count 202 --real-start 2020 --real-check 0 --parallel 1 4 --top-k "$k" \
        --out runs/sweep >> runs/sweep.log 2>&1
done
log "evaluation: 512 held-out clips, n = 1, 4, 16, tokenizer check (runs/eval)"
python3 -m tools.eval.eval_builtin --count 512 --recon-check --out runs/eval >> runs/eval.log 2>&1
log "all done"
