#!/usr/bin/env bash
# Score finished runs of the equal-budget zoo (README, "The zoo at equal budget") on the three
# held-out sets, with real bitstreams on whole images, into $OUT/<set>/NAME.json
# (OUT defaults to docs/equal-budget):
#   test   the real RAW test split (Canon S40 CRW_0112, LibRaw's render as target)
#   val    the real RAW validation split (Canon S40 CRW_0105)
#   kodak  the 4 held-out Kodak images as one-ISP synthetic DNGs (scripts/synthetic_test_set.py)
# Each MODEL is a run directory (its model_best.pth) or an exported model file; several make
# one curve (a quality ladder). `zoo:ARCH:Q,Q,...` scores the zoo's cards instead (the zoo
# COMPRESSAI_ISP_ZOO names, else the shipped one), e.g. zoo:rbn:2,4,6. A compression model is scored by `eval checkpoint`; an
# ISP-only model (liteispnet, one MODEL) by `anchors isp` (its ISP-only ceiling, then JPEG and
# WebP of its render, as NAME-isp-only.json, NAME-jpeg.json, NAME-webp.json). A `comp-net`
# ladder is scored as the separately trained cascade, behind the ISP-Net named by ISP (a
# LiteISPNet file; default: the zoo's), by `anchors cascade`.
#   scripts/equal_budget_eval.sh NAME MODEL [MODEL ...]
set -euo pipefail
NAME=$1
shift
OUT=${OUT:-docs/equal-budget}
RAW=${RAW:-../shared/data/raw}
KODAK_DNG=${KODAK_DNG:-runs/kodak-test}
[ -d "$KODAK_DNG" ] || python scripts/synthetic_test_set.py "${KODAK:-../shared/data/kodak}" "$KODAK_DNG"

models=()
for model in "$@"; do
  if [ -d "$model" ]; then models+=("$model/model_best.pth"); else models+=("$model"); fi
done
case ${models[0]} in
  zoo:*) IFS=: read -r _ arch qualities <<< "${models[0]}" ;;
  *) arch=$(python -c "import torch,sys; print(torch.load(sys.argv[1], weights_only=True)['arch'])" \
       "${models[0]}") ;;
esac

score() {  # SET DATASET [SPLIT]
  local split=()
  [ $# -ge 3 ] && split=(--split "$3" --skip-unreadable)
  mkdir -p "$OUT/$1"
  if [ -n "${qualities:-}" ]; then
    compressai-isp eval pretrained "$2" "${split[@]}" -a "$arch" -q "$qualities" --name "$NAME" \
      --quiet -o "$OUT/$1/$NAME.json"
  elif [ "$arch" = comp-net ]; then
    local isp=(--isp-pretrained) tmp
    [ -n "${ISP:-}" ] && isp=(--isp-checkpoint "$ISP")
    tmp=$(mktemp -d)
    compressai-isp anchors cascade "$2" "${split[@]}" "${isp[@]}" --comp-checkpoint "${models[@]}" \
      --quiet -d "$tmp"
    mv "$tmp/cascade.json" "$OUT/$1/$NAME.json" && rmdir "$tmp"
  elif [ "$arch" = liteispnet ]; then
    compressai-isp anchors isp "$2" "${split[@]}" --isp-checkpoint "${models[0]}" \
      --codecs jpeg,webp --quiet -d "$OUT/$1/$NAME"
  else
    compressai-isp eval checkpoint "$2" "${split[@]}" -p "${models[@]}" --name "$NAME" \
      --quiet -o "$OUT/$1/$NAME.json"
  fi
}

score test "$RAW" test
score val "$RAW" val
score kodak "$KODAK_DNG"
