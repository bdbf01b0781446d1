#!/usr/bin/env bash
# libFuzzer harness for the parsers of files par-video reads (docs/FUZZING.md).
#   Fuzz/fuzz.sh build                  compile .build/fuzz/par-video-fuzz
#   Fuzz/fuzz.sh run TARGET SECONDS     fuzz one target (safetensors, bundle, npy, manifest, runjson)
#   Fuzz/fuzz.sh all SECONDS [JOBS]     every target, JOBS at a time (default 1)
# The harness is Fuzz/FuzzTargets.swift compiled with the library's own parser
# sources under -sanitize=fuzzer,address. A crash, a hang (10 s), a sanitizer
# report or more than 2 GB of memory fails the run; the input is kept as
# .build/fuzz/TARGET-crash-... and the log as .build/fuzz/TARGET.log.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.build/fuzz
BIN=$OUT/par-video-fuzz
TARGETS=(safetensors bundle npy manifest runjson)
SOURCES=(
  Fuzz/FuzzTargets.swift
  Sources/PARVideo/InputFile.swift
  Sources/PARVideo/Weights/SafeTensors.swift
  Sources/PARVideo/Weights/InputLimits.swift
  Sources/PARVideo/Weights/GPTConfig.swift
  Sources/PARVideo/Weights/ModelBundle.swift
  Sources/PARVideo/Sampling/SamplingOptions.swift
  Sources/PARVideo/Tokenizer/TokenizerConfig.swift
  Sources/PARVideo/Tokenizer/FSQ.swift
  Sources/PARVideo/ImageTokenizer/VQConfig.swift
  Sources/PARVideo/ImageTokenizer/VQPlan.swift
  Sources/PARVideo/Pipeline/NPY.swift
  Sources/PARVideo/Pipeline/NPYHeader.swift
  Sources/PARVideo/Batch/BatchError.swift
  Sources/PARVideo/Batch/BatchPlan.swift
  Sources/PARVideo/Batch/Manifest.swift
  Sources/PARVideo/Batch/RunSettings.swift
  Sources/PARVideo/VideoIO/AtomicOutput.swift
  Sources/PARVideo/VideoIO/OutputChecks.swift
  Sources/PARVideo/VideoIO/VideoIOError.swift
)

build() {
  mkdir -p "$OUT"
  local stale=0
  [ -x "$BIN" ] || stale=1
  for s in "${SOURCES[@]}"; do [ "$s" -nt "$BIN" ] && stale=1; done
  [ $stale = 0 ] && return 0
  # gold warns once per sanitizer symbol it cannot export: noise, not findings.
  # CFFmpeg: the output lock (AtomicOutput, used by Manifest.append) reports errors as VideoIOError.
  swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name PARVideoFuzz \
    -Xcc -fmodule-map-file=Sources/CFFmpeg/module.modulemap -I Sources/CFFmpeg \
    "${SOURCES[@]}" -o "$BIN" 2> >(grep -v "Cannot export local symbol" >&2)
}

# Seed corpus from the test fixtures (and the hand-written manifests and run.json files in Fuzz/seeds).
seed() {
  local t=$1 dir=$OUT/corpus/$1
  mkdir -p "$dir"
  case $t in
    safetensors) find Tests/Fixtures -name '*.safetensors' -size -160k | while read -r f; do
                   cp -n "$f" "$dir/seed-$(echo "$f" | tr / _)"; done ;;
    npy)         find Tests/Fixtures -name '*.npy' | while read -r f; do cp -n "$f" "$dir/seed-$(echo "$f" | tr / _)"; done ;;
    manifest)    cp -n Fuzz/seeds/manifest/* "$dir/" ;;
    runjson)     cp -n Fuzz/seeds/runjson/* "$dir/" ;;
    bundle)      # the par_video metadata text of every fixture bundle
                 find Tests/Fixtures -name '*.safetensors' | while read -r f; do
                   local n
                   n=$(od -An -t u8 -N 8 "$f" | tr -d ' ')
                   head -c $((8 + n)) "$f" | tail -c "$n" | "$PYTHON" -c '
import json, sys
m = json.load(sys.stdin).get("__metadata__", {}).get("par_video")
if m: sys.stdout.write(m)' > "$dir/seed-$(echo "$f" | tr / _).json"
                   [ -s "$dir/seed-$(echo "$f" | tr / _).json" ] || rm -f "$dir/seed-$(echo "$f" | tr / _).json"
                 done ;;
  esac
}

run() {
  local t=$1 secs=$2 log=$OUT/$1.log
  seed "$t"
  if PAR_FUZZ_TARGET=$t "$BIN" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$OUT/$t-" "$OUT/corpus/$t" >"$log" 2>&1; then
    local stats execs
    stats=$(grep -a 'DONE   cov' "$log" | tail -1 | sed 's/.*\(cov: .*\) lim:.*/\1/')
    execs=$(grep -a 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "fuzz $t: ${secs}s, $execs executions, $stats, 0 crashes"
  else
    echo "fuzz $t: FAILED (log $log)"
    grep -a -E 'ERROR|SUMMARY|Fatal error|Test unit written' "$log" | head -8
    return 1
  fi
}

PYTHON=${PYTHON:-python3}
case ${1:-} in
  build) build ;;
  run)   build; run "$2" "$3" ;;
  all)   build
         secs=$2 jobs=${3:-1} pids=() fail=0
         for t in "${TARGETS[@]}"; do
           run "$t" "$secs" & pids+=($!)
           if [ ${#pids[@]} -ge "$jobs" ]; then wait "${pids[0]}" || fail=1; pids=("${pids[@]:1}"); fi
         done
         for p in "${pids[@]}"; do wait "$p" || fail=1; done
         exit $fail ;;
  *)     sed -n '2,5p' "$0"; exit 2 ;;
esac
