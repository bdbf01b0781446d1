#!/bin/bash
# Every benchmark of BENCHMARKS.md (issues 3, 4, 7), about 20 minutes on 2 cores.
# Usage: tools/bench/bench_all.sh [OUTDIR]   (default runs/bench). Run it on a quiet machine.
cd "$(dirname "$0")/../.."
B=.build/release/par-video
O=${1:-runs/bench}
mkdir -p $O
date -u; uptime
$B bench --kernels > $O/kernels.txt 2>&1
$B bench --config small --repeats 3 > $O/small.txt 2>&1
$B bench --config paper --layers 4 --batch 1 --repeats 3 > $O/paper4_b1.txt 2>&1
$B bench --config paper --layers 4 --batch 8 > $O/paper4_b8.txt 2>&1
$B bench --config paper --layers 4 --dtype bf16 --batch 1 --repeats 2 > $O/paper4_bf16.txt 2>&1
$B bench --config paper --parallel 16 --batch 1 > $O/paper36_n16.txt 2>&1
$B bench-tokenizer --json > $O/tok_f32.json 2>&1
python3 -m tools.bench.bench_nbp_decoder_torch --threads 2 > $O/tok_torch.json 2>&1
$B bench-tokenizer --dtype bf16 --json > $O/tok_bf16.json 2>&1
# Two rounds, B = 1 and 8 alternating within each n, so a drifting machine shows as a spread.
for rep in 1 2; do for n in 1 4 16; do for b in 1 8; do
  rm -rf $O/tp_n${n}_b${b}
  s=$(date +%s.%N)
  $B batch --parallel $n --count 48 --batch $b --quiet -o $O/tp_n${n}_b${b} > /dev/null 2>&1
  e=$(date +%s.%N)
  echo "builtin rep=$rep n=$n B=$b clips=48 wall=$(echo "$e - $s" | bc)" >> $O/throughput.txt
done; done; done
date -u; uptime
echo DONE
