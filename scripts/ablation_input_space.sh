#!/usr/bin/env bash
# Issue 13's 2x2 ablation: ISP-only LiteISPNet at the default model's decoder width (16),
# {paper, camera-normalised} input x {mixed (unprocessing), one-ISP (libraw)} synthetic targets,
# same data, seed, steps and schedule. Two lanes of two cells run side by side, one thread each.
#   scripts/ablation_input_space.sh [STEPS] [OUT]      (default 4000 steps, runs/ablation)
# Then: python scripts/ablation_table.py OUT
set -euo pipefail
STEPS=${1:-4000}
OUT=${2:-runs/ablation}
RAW=${RAW:-../shared/data/raw}
KODAK=${KODAK:-../shared/data/kodak}
mkdir -p "$OUT"

cell() {  # SPACE ISP
  local dir="$OUT/$1-$2"
  OMP_NUM_THREADS=1 /usr/bin/time -f "cpu_s=%U+%S wall_s=%e" -o "$dir.time" \
    python -m compressai_isp.train -m liteispnet --model-kwargs width=16 \
      -d "raw:$RAW" -d "synthetic:$KODAK" --input-space "$1" --synthetic-isp "$2" \
      --patch-size 128 128 --batch-size 8 -n 0 --threads 1 -lr 1e-4 \
      --max-steps "$STEPS" --seed 1 --val-every 1000 --print-every 200 \
      --no-progress --no-tensorboard --save "$dir" > "$dir.log" 2>&1
}

( cell paper unprocessing; cell camera-normalised libraw ) &
( cell paper libraw; cell camera-normalised unprocessing ) &
wait
