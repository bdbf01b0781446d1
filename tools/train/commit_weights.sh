#!/usr/bin/env bash
# Commit the compact weights (models/train/*.pt) every PERIOD seconds while training runs, so a
# later session can resume from git. Only those files go into the commit.
#   nohup tools/train/commit_weights.sh > runs/commit_weights.log 2>&1 &
set -u
cd "$(dirname "$0")/../.."
PERIOD=${PERIOD:-2400}
while true; do
  sleep "$PERIOD"
  shopt -s nullglob
  files=(models/train/*.pt)
  [ ${#files[@]} -eq 0 ] && continue
  git add -- "${files[@]}" && git commit -q -m "train: compact weights $(date -u +%H:%M)" -- models/train \
    && echo "$(date -u +%H:%M:%S) committed ${files[*]}" || echo "$(date -u +%H:%M:%S) nothing to commit"
done
