#!/usr/bin/env bash
# The README's rate-distortion results of the equal-budget zoo, from the JSONs that
# scripts/equal_budget_eval.sh wrote into $OUT/<set>/ (OUT defaults to docs/equal-budget):
#   $OUT/<set>/rd-psnr.png, rd-ms-ssim.png   RD curves (PSNR, MS-SSIM in dB) of every pipeline
#   $OUT/<set>/bd.md                         BD-rate / BD-PSNR of every pipeline against
#                                            LibRaw + JPEG (and against each cascade ladder)
# for the real test photo (test) and the held-out Kodak DNGs (kodak). Of the ISP-only models'
# folders ($OUT/<set>/NAME/) only ISP_NAME's is drawn (default: the shipped liteispnet's run).
#   scripts/equal_budget_report.sh [SET ...]
set -euo pipefail
OUT=${OUT:-docs/equal-budget}
sets=("$@")
[ ${#sets[@]} -gt 0 ] || sets=(test kodak)

ISP_NAME=${ISP_NAME:-liteispnet-w16-lr1e-3}

points() {  # FILE: how many rate points the result JSON has (0: an ISP-only ceiling)
  python -c "import json,sys; print(len(json.load(open(sys.argv[1]))['results'].get('bpp', [])))" "$1"
}

curves() {  # DIR: every result JSON that has a rate (ISP-only ceilings are drawn separately)
  local dir=$1 f
  for f in "$dir"/*.json "$dir/$ISP_NAME"/*.json; do
    [ -f "$f" ] && [ "$(points "$f")" -gt 0 ] && echo "$f"
  done
  return 0
}

for set in "${sets[@]}"; do
  dir=$OUT/$set
  mapfile -t files < <(curves "$dir")
  ceiling=()
  [ -f "$dir/classical-isp-only.json" ] && ceiling=(--ceiling "$dir/classical-isp-only.json"
    --ceiling-label "classical ISP, no compression")
  for metric in psnr ms-ssim; do
    compressai-isp plot -f "${files[@]}" -m "$metric" "${ceiling[@]}" --log-bpp \
      -t "equal budget, $set set ($metric)" -o "$dir/rd-$metric.png"
  done
  {
    echo "BD against LibRaw + JPEG ($set set, PSNR):"
    echo
    compressai-isp bd "$dir/libraw-jpeg.json" "${files[@]}" --markdown
    for cascade in "$dir"/cascade*.json; do
      [ -f "$cascade" ] && [ "$(points "$cascade")" -ge 2 ] || continue
      echo
      echo "BD against $(basename "$cascade" .json) ($set set, PSNR):"
      echo
      compressai-isp bd "$cascade" "${files[@]}" --markdown
    done
  } > "$dir/bd.md"
  echo "wrote $dir/rd-psnr.png, $dir/rd-ms-ssim.png, $dir/bd.md"
done
