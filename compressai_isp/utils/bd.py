"""Bjontegaard delta rate and delta PSNR between two rate-distortion curves.

Bjontegaard (VCEG-M33, 2001) fits each curve in the (log-rate, quality) plane and compares the
average gap over the quality (for BD-rate) or log-rate (for BD-PSNR) range where both curves are
defined. The original cubic-polynomial fit can overshoot between points; like the JVET common test
conditions we use piecewise cubic Hermite interpolation (PCHIP, monotone, exact on the data
points) and integrate the interpolants exactly.

* **BD-rate** (percent): average bit-rate difference of ``test`` against ``anchor`` at equal
  quality; negative means ``test`` needs fewer bits. A curve whose rates are all ``k`` times the
  anchor's (same qualities) has a BD-rate of exactly ``100 * (k - 1)``.
* **BD-PSNR** (dB, or dB of the chosen metric): average quality difference at equal rate;
  positive means ``test`` is better.

CLI::

    python -m compressai_isp.utils.bd anchor.json test.json [-m psnr|ms-ssim]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

from compressai_isp.errors import run_command
from compressai_isp.utils.results import load_curve, load_result

__all__ = ["bd_psnr", "bd_rate", "bd_from_files", "bd_table", "build_parser", "main"]


def _prepare(
    rate: Sequence[float], quality: Sequence[float], name: str
) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(rate, dtype=np.float64)
    q = np.asarray(quality, dtype=np.float64)
    if r.ndim != 1 or r.shape != q.shape:
        raise ValueError(f"{name}: rate and quality must be 1-D sequences of equal length")
    if r.size < 2:
        raise ValueError(f"{name}: a curve needs at least 2 rate points, got {r.size}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))):
        raise ValueError(f"{name}: rates and qualities must be finite")
    if np.any(r <= 0):
        raise ValueError(f"{name}: rates must be positive (they are compared in log scale)")
    return np.log(r), q


def _mean_over_overlap(
    x1: np.ndarray,
    y1: np.ndarray,
    x2: np.ndarray,
    y2: np.ndarray,
    what: str,
    shown: Callable[[float], float] = float,
) -> float:
    """Mean of ``f2 - f1`` over the common ``x`` range, each ``f`` a PCHIP fit of ``y`` on ``x``;
    ``shown`` maps ``x`` back to the unit an error names (rates are fitted as logs)."""
    for x, label in ((x1, "anchor"), (x2, "test")):
        if np.unique(x).size != x.size:
            raise ValueError(
                f"{label}: repeated {what} values; BD needs a curve that is a function"
            )
    lo, hi = max(x1.min(), x2.min()), min(x1.max(), x2.max())
    if not hi > lo:
        ranges = ", ".join(
            f"{label} {shown(x.min()):.4g}-{shown(x.max()):.4g}"
            for x, label in ((x1, "anchor"), (x2, "test"))
        )
        raise ValueError(f"the two curves do not overlap in {what} ({ranges})")
    o1, o2 = np.argsort(x1), np.argsort(x2)
    f1 = PchipInterpolator(x1[o1], y1[o1])
    f2 = PchipInterpolator(x2[o2], y2[o2])
    return float((f2.integrate(lo, hi) - f1.integrate(lo, hi)) / (hi - lo))


def bd_rate(
    rate_anchor: Sequence[float],
    quality_anchor: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
) -> float:
    """Bjontegaard delta rate of ``test`` against ``anchor`` in percent (PCHIP in log-rate).

    Log-rate is interpolated as a function of quality and averaged over the common quality range.
    """
    lr1, q1 = _prepare(rate_anchor, quality_anchor, "anchor")
    lr2, q2 = _prepare(rate_test, quality_test, "test")
    mean_log_ratio = _mean_over_overlap(q1, lr1, q2, lr2, "quality")
    return 100.0 * math.expm1(mean_log_ratio)


def bd_psnr(
    rate_anchor: Sequence[float],
    quality_anchor: Sequence[float],
    rate_test: Sequence[float],
    quality_test: Sequence[float],
) -> float:
    """Bjontegaard delta quality (dB for PSNR) of ``test`` against ``anchor`` at equal rate."""
    lr1, q1 = _prepare(rate_anchor, quality_anchor, "anchor")
    lr2, q2 = _prepare(rate_test, quality_test, "test")
    return _mean_over_overlap(lr1, q1, lr2, q2, "rate", shown=math.exp)


def bd_from_files(anchor: str, test: str, metric: str = "psnr") -> dict[str, object]:
    """BD-rate and BD-quality between two result JSONs (MS-SSIM measured in dB)."""
    a = load_curve(anchor, metric)
    t = load_curve(test, metric)
    return {
        "anchor": a.name,
        "test": t.name,
        "metric": a.metric,
        "bd_rate_percent": bd_rate(a.bpp, a.values, t.bpp, t.values),
        "bd_quality_db": bd_psnr(a.bpp, a.values, t.bpp, t.values),
    }


def bd_table(anchor: str, tests: Sequence[str], metric: str = "psnr") -> list[dict[str, object]]:
    """:func:`bd_from_files` of each test against one anchor. Each of the two measures is
    computed where it applies: curves that overlap in rate but not in quality get their BD-PSNR
    and no BD-rate, and the other way round. What a row lacks has its reason under ``"error"``
    (so does a single point, or a result without rates, such as ``anchors isp``'s ISP-only
    file); a file that cannot be read still raises."""
    a = load_curve(anchor, metric)
    rows: list[dict[str, object]] = []
    for path in tests:
        result = load_result(path, require_bpp=False)
        row: dict[str, object] = {"anchor": a.name, "test": result["name"], "metric": a.metric}
        if "bpp" not in result["results"]:
            rows.append({**row, "error": "no rates (a quality-only result, e.g. ISP-only)"})
            continue
        t = load_curve(path, metric)
        errors = []
        for key, measure in (("bd_rate_percent", bd_rate), ("bd_quality_db", bd_psnr)):
            try:
                row[key] = measure(a.bpp, a.values, t.bpp, t.values)
            except ValueError as err:
                errors.append(str(err))
        if errors:
            row["error"] = "; ".join(dict.fromkeys(errors))  # a single point fails both alike
        rows.append(row)
    return rows


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="compressai-isp bd",
        description="Bjontegaard delta rate / PSNR of each TEST against ANCHOR (result JSONs).",
    )
    p.add_argument("anchor", help="result JSON of the reference curve")
    p.add_argument(
        "test", nargs="+",
        help="result JSON(s) of the curve(s) to compare; several (or --markdown) print a table, "
        "where a pair without a common range says so in its row",
    )  # fmt: skip
    p.add_argument(
        "-m",
        "--metric",
        default="psnr",
        choices=["psnr", "ms-ssim"],
        help="quality axis (MS-SSIM in dB, -10 log10(1 - x)) (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print the numbers as JSON")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    return p


def _print_table(rows: list[dict[str, object]], markdown: bool) -> None:
    quality = "BD-PSNR (dB)" if rows[0]["metric"] == "psnr-rgb" else "BD-MS-SSIM (dB)"
    cells = [["test", f"BD-rate vs {rows[0]['anchor']}", quality]]
    for row in rows:
        reason = f"n/a: {row['error']}" if "error" in row else "n/a"
        rate = f"{row['bd_rate_percent']:+.1f} %" if "bd_rate_percent" in row else reason
        gain = row.get("bd_quality_db")
        shown = f"{gain:+.2f}" if gain is not None else ("n/a" if rate == reason else reason)
        cells.append([str(row["test"]), rate, shown])
    if markdown:
        lines = [f"| {' | '.join(c)} |" for c in cells]
        lines.insert(1, "|---|---|---|")
    else:
        widths = [max(len(c[i]) for c in cells) for i in range(2)]
        lines = [f"{c[0]:<{widths[0]}}  {c[1]:<{widths[1]}}  {c[2]}" for c in cells]
    print("\n".join(lines))


def _print_bd(args: argparse.Namespace) -> int:
    if len(args.test) > 1 or args.markdown:
        rows = bd_table(args.anchor, args.test, args.metric)
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            _print_table(rows, args.markdown)
        return 0
    out = bd_from_files(args.anchor, args.test[0], args.metric)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    unit = "dB" if out["metric"] == "psnr-rgb" else "dB (MS-SSIM)"
    print(f"anchor: {out['anchor']}\ntest:   {out['test']}")
    print(f"BD-rate: {out['bd_rate_percent']:+.2f} %  (negative = test saves bits)")
    print(
        f"BD-{'PSNR' if out['metric'] == 'psnr-rgb' else 'MS-SSIM'}: "
        f"{out['bd_quality_db']:+.3f} {unit}  (positive = test is better)"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command("compressai-isp bd", lambda: _print_bd(args))


if __name__ == "__main__":
    sys.exit(main())
