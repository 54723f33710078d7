#!/usr/bin/env bash
# Score one finished run of the equal-budget zoo (README, "The zoo at equal budget") on the
# three held-out sets, with real bitstreams on whole images, into docs/equal-budget/<set>/:
#   test   the real RAW test split (Canon S40 CRW_0112, LibRaw's render as target)
#   val    the real RAW validation split (Canon S40 CRW_0105)
#   kodak  the 4 held-out Kodak images as one-ISP synthetic DNGs (scripts/synthetic_test_set.py)
# A compression model is scored by `eval checkpoint`; an ISP-only model (liteispnet) by
# `anchors isp` (its ISP-only ceiling, then JPEG and WebP of its render).
#   scripts/equal_budget_eval.sh RUN_DIR NAME [OUT]
set -euo pipefail
RUN=$1
NAME=$2
OUT=${3:-docs/equal-budget}
RAW=${RAW:-../shared/data/raw}
KODAK_DNG=${KODAK_DNG:-runs/kodak-test}
[ -d "$KODAK_DNG" ] || python scripts/synthetic_test_set.py "${KODAK:-../shared/data/kodak}" "$KODAK_DNG"

score() {  # SET DATASET [SPLIT]
  local split=()
  [ $# -ge 3 ] && split=(--split "$3" --skip-unreadable)
  mkdir -p "$OUT/$1"
  if [ "$(python -c "import torch,sys; print(torch.load(sys.argv[1], weights_only=True)['arch'])" \
        "$RUN/model_best.pth")" = liteispnet ]; then
    compressai-isp anchors isp "$2" "${split[@]}" --isp-checkpoint "$RUN/model_best.pth" \
      --codecs jpeg,webp --quiet -d "$OUT/$1/$NAME"
  else
    compressai-isp eval checkpoint "$2" "${split[@]}" -p "$RUN/model_best.pth" --name "$NAME" \
      --quiet -o "$OUT/$1/$NAME.json"
  fi
}

score test "$RAW" test
score val "$RAW" val
score kodak "$KODAK_DNG"
