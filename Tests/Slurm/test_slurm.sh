#!/usr/bin/env bash
# make test-slurm: the job script of docs/BATCH.md on a real one-node Slurm.
#   Tests/Slurm/test_slurm.sh BIN [--if-possible]
# Root on Debian/Ubuntu: installs slurm-wlm and munge from apt when missing,
# writes a one-node slurm.conf into a temporary folder, starts munged,
# slurmctld and slurmd itself (Debian's policy keeps services from starting
# at install) and stops them by PID at the end. The job script is extracted
# from docs/BATCH.md, so the doc cannot drift; only the model, the clip count
# and N are scaled down (each substitution must match exactly once). Task 1
# is cancelled mid-run and resubmitted alone (SLURM_ARRAY_TASK_COUNT=1); the
# merged run must equal an unsharded run byte for byte.
# --if-possible (make test): a machine that cannot run it prints why and passes.
set -euo pipefail
BIN=$(readlink -f "$1"); MODE=${2:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=$ROOT/Tests/Fixtures/pipeline/tiny
PER_CLASS=16 N=3

cannot() {
  if [ "$MODE" = --if-possible ]; then echo "test-slurm skipped: $*"; exit 0; fi
  echo "test-slurm: $*" >&2; exit 1
}
fail() { echo "test-slurm FAILED: $*" >&2; exit 1; }

[ -x "$BIN" ] || fail "no binary at $1"
[ "$(uname)" = Linux ] || cannot "not Linux"
[ "$(id -u)" = 0 ] || cannot "needs root (installs slurm-wlm and munge, starts munged, slurmctld and slurmd)"
command -v apt-get >/dev/null || cannot "no apt-get (Debian or Ubuntu)"
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  echo "test-slurm: installing slurm-wlm and munge"
  export DEBIAN_FRONTEND=noninteractive
  { timeout 300 apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1 ||
    { timeout 120 apt-get update -qq >/dev/null 2>&1 &&
      timeout 300 apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null 2>&1; }; } ||
    cannot "apt-get cannot install slurm-wlm and munge (no network?)"
fi

T=$(mktemp -d /tmp/par-slurm.XXXXXX)
chmod 755 "$T"
PIDS=()
cleanup() {
  # Only the daemons this script started, newest first, by PID.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; done
  if [ -n "${KEEP:-}" ]; then echo "test-slurm: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

# munged on its own key and socket, so a system munged is neither used nor disturbed.
dd if=/dev/urandom of="$T/munge.key" bs=1024 count=1 status=none
chmod 600 "$T/munge.key"
mkdir -m 700 "$T/munge"
munged --force --key-file="$T/munge.key" --socket="$T/munge/munge.sock" --pid-file="$T/munge/munged.pid" \
  --log-file="$T/munge/munged.log" --seed-file="$T/munge/munged.seed" --foreground >/dev/null 2>&1 &
PIDS+=($!)

HOST=$(hostname -s)
PORT=$((17000 + RANDOM % 2000))
mkdir -p "$T/state" "$T/spool" "$T/work" "$T/bin"
cat > "$T/slurm.conf" <<CONF
ClusterName=partest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge/munge.sock
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
MinJobAge=600
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$T/slurm.conf
for _ in $(seq 50); do [ -S "$T/munge/munge.sock" ] && break; sleep 0.1; done
[ -S "$T/munge/munge.sock" ] || fail "munged did not start (log: $(tail -3 "$T/munge/munged.log" 2>/dev/null))"
slurmctld -D -i -f "$SLURM_CONF" >/dev/null 2>&1 &
PIDS+=($!)
slurmd -D -f "$SLURM_CONF" -N "$HOST" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do
  sinfo -h -o %T 2>/dev/null | grep -qx idle && break
  sleep 0.2
done
sinfo -h -o %T 2>/dev/null | grep -qx idle ||
  fail "the node did not come up: $(sinfo 2>&1 | tail -2); slurmctld: $(tail -3 "$T/slurmctld.log" 2>/dev/null); slurmd: $(tail -3 "$T/slurmd.log" 2>/dev/null)"
echo "test-slurm: slurmctld and slurmd up (node $HOST, 2 CPUs)"

# The job script, verbatim from the doc, scaled down.
script=$(awk '/^    #!\/bin\/bash$/ {on = 1} on && /^$/ {exit} on {print substr($0, 5)}' "$ROOT/docs/BATCH.md")
[ -n "$script" ] || fail "no job script (an indented block starting with #!/bin/bash) in docs/BATCH.md"
sub() {
  local n; n=$(grep -o -F -- "$1" <<<"$script" | wc -l)
  [ "$n" = 1 ] || fail "docs/BATCH.md's job script has '$1' $n times, the test expects it once"
  script=${script/"$1"/"$2"}
}
sub "--model /models/par-ucf101" "--model $MODEL"
sub "--per-class 100" "--per-class $PER_CLASS"
sub "N=32" "N=$N"
printf '%s\n' "$script" > "$T/work/job.sh"
ln -s "$BIN" "$T/bin/par-video"
export PATH=$T/bin:$PATH

cd "$T/work"
# The node has 2 CPUs: one each, so two tasks run at once; 2 minutes is plenty.
submit() { sbatch --parsable --cpus-per-task=1 --time=00:05:00 "$@" job.sh | cut -d';' -f1; }
state() { scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1 | cut -d= -f2; }
wait_job() {
  for _ in $(seq 1200); do
    [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  fail "job $1 still running after 120 s: $(squeue -j "$1" 2>&1)"
}

job=$(submit --array=0-$((N - 1)))
# Cancel task 1 once it has finished a clip: the resubmitted task must resume, not restart.
m1=fvd/manifest.shard-1-of-$N.jsonl
for _ in $(seq 1200); do [ -s "$m1" ] && break; sleep 0.05; done
scancel "${job}_1"
wait_job "$job"
for k in 0 2; do [ "$(state "${job}_$k")" = COMPLETED ] || fail "task $k: $(state "${job}_$k") ($(cat par-fvd-${job}_$k.log))"; done
[ "$(state "${job}_1")" = CANCELLED ] || fail "task 1 was not cancelled: $(state "${job}_1")"
per_shard=$((3 * PER_CLASS / N))
done1=$(grep -c . "$m1" 2>/dev/null || true)
echo "test-slurm: array $job: tasks 0, 2 completed, task 1 cancelled after $done1 of $per_shard clips"
if [ "$done1" -lt "$per_shard" ]; then
  if par-video merge fvd >/dev/null 2>merge.err; then fail "merge of an unfinished run passed"; fi
  grep -q "clips missing" merge.err || fail "merge of an unfinished run: $(cat merge.err)"
fi

# The usual fix: resubmit the one task. It gets SLURM_ARRAY_TASK_COUNT=1, the script's fixed N keeps --shard 1/N.
again=$(submit --array=1)
wait_job "$again"
[ "$(state "${again}_1")" = COMPLETED ] || fail "resubmitted task 1: $(state "${again}_1") ($(cat par-fvd-${again}_1.log))"
grep -q "already finished, skipped" "par-fvd-${again}_1.log" || [ "$done1" = 0 ] ||
  fail "the resubmitted task did not resume: $(head -2 par-fvd-${again}_1.log)"
par-video merge fvd || fail "merge after the resubmission"

# The unsharded run, outside Slurm: the merged folder must hold the same bytes.
par-video batch --model "$MODEL" --actions all --per-class "$PER_CLASS" --seed 0 --batch 8 --threads 2 --quiet -o whole
ls -A fvd | grep -q partial && fail "temporaries left in fvd: $(ls -A fvd | grep partial)"
clips() { (cd "$1" && ls | grep -E '^(clip_|labels\.csv$)'); }
[ "$(clips whole)" = "$(clips fvd)" ] || fail "the merged folder lists other files than the unsharded run"
for f in $(clips whole); do cmp -s "whole/$f" "fvd/$f" || fail "fvd/$f differs from the unsharded run's"; done
strip() { sed -E 's/"seconds":[0-9.e+-]+,//' "$1"; }
[ "$(strip whole/manifest.jsonl)" = "$(strip fvd/manifest.jsonl)" ] || fail "manifest.jsonl differs (beyond timings)"
echo "test-slurm: passed: $((3 * PER_CLASS)) clips from $N shards (task 1 cancelled and resubmitted) identical to the unsharded run"
