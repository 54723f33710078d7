"""Rate-distortion plots from any number of result JSON files (PNG, SVG, PDF).

Like ``compressai.utils.plot``: one curve per file, quality against bits per sRGB pixel, MS-SSIM
shown in dB (``-10 log10(1 - x)``) unless ``--ms-ssim-linear``. Standard codecs and other anchors
(names containing JPEG, WebP, AVIF, ...) are drawn dashed so learned codecs stand out. An optional
horizontal line marks a quality ceiling, e.g. the ISP-only PSNR that bounds any cascade
(RAWtoBit §4.2: 32.82 dB for LiteISPNet on FiveK D700). Rendering is off-screen (a bare
matplotlib ``Figure``, Agg), so it never opens a window or touches pyplot's global state.

CLI::

    python -m compressai_isp.utils.plot -f rbn.json jpeg.json -m psnr -o rd.png rd.svg
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from compressai_isp.utils.results import (
    RDCurve,
    ResultFileError,
    load_curve,
    load_result,
    metric_key,
    ms_ssim_to_db,
)

__all__ = ["ANCHOR_MARKERS", "load_ceiling", "main", "plot_rd"]

#: Curve names containing one of these are anchors / hand-crafted codecs and drawn dashed.
ANCHOR_MARKERS: tuple[str, ...] = (
    "JPEG",
    "JPEG2000",
    "JPEG 2000",
    "WebP",
    "AVIF",
    "JPEG XL",
    "JPEGXL",
    "BPG",
    "VTM",
    "HM",
    "libraw",
    "LibRaw",
)
_FORMATS = {".png", ".svg", ".pdf"}


def _is_anchor(name: str) -> bool:
    low = name.lower()
    return any(m.lower() in low for m in ANCHOR_MARKERS)


def _save_atomic(fig, path: Path) -> None:
    from compressai_isp.data._atomic import atomic_open

    with atomic_open(path) as f:
        fig.savefig(f, dpi=200, format=path.suffix[1:].lower(), bbox_inches="tight")


def plot_rd(
    result_files: Sequence[str | os.PathLike[str]],
    outputs: Sequence[str | os.PathLike[str]],
    metric: str = "psnr",
    *,
    title: str | None = None,
    ms_ssim_db: bool = True,
    ceiling: float | None = None,
    ceiling_label: str = "ISP-only ceiling",
    axes: Sequence[float] | None = None,
    figsize: tuple[float, float] = (9.0, 6.0),
    log_bpp: bool = False,
) -> list[RDCurve]:
    """Draw one RD curve per result file and save the figure to every path in ``outputs``.

    The format follows each output's suffix (``.png``, ``.svg`` or ``.pdf``). Returns the curves
    plotted. Raises :class:`~compressai_isp.utils.results.ResultFileError` naming a bad file and
    ``ValueError`` for an unsupported output format, before anything is written.
    """
    if not result_files:
        raise ValueError("no result files to plot")
    if not outputs:
        raise ValueError("no output file given (use e.g. rd.png rd.svg)")
    out_paths = [Path(o) for o in outputs]
    for p in out_paths:
        if p.suffix.lower() not in _FORMATS:
            raise ValueError(f"{p}: unsupported plot format (use {', '.join(sorted(_FORMATS))})")
    curves = [load_curve(f, metric, ms_ssim_db=ms_ssim_db) for f in result_files]

    # A bare Figure (no pyplot) renders off-screen with Agg and leaves the caller's backend and
    # figure registry alone, so this works the same in scripts, CI and notebooks.
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    # Every curve its own colour: the default cycle repeats after 10, tab20 after 20.
    palette = "tab10" if len(curves) <= 10 else "tab20"
    colors = matplotlib.colormaps[palette].colors
    try:
        for n, c in enumerate(curves):
            order = sorted(range(len(c.bpp)), key=c.bpp.__getitem__)
            ax.plot(
                [c.bpp[i] for i in order],
                [c.values[i] for i in order],
                marker="o" if not _is_anchor(c.name) else ".",
                markersize=4,
                linestyle="--" if _is_anchor(c.name) else "-",
                linewidth=1.0,
                color=colors[n % len(colors)],
                label=c.name,
            )
        if ceiling is not None:
            ax.axhline(ceiling, color="gray", linestyle=":", linewidth=1.0, label=ceiling_label)
        key = curves[0].metric
        if key.startswith("ms-ssim"):
            ylabel = "MS-SSIM [dB]" if ms_ssim_db else "MS-SSIM"
        elif key.startswith("psnr"):
            ylabel = "PSNR [dB] (sRGB)"
        else:
            ylabel = key
        ax.set_xlabel("Bit-rate [bpp, sRGB output pixels]")
        if log_bpp:
            # Codec sweeps often span two decades of rate; a log axis keeps low rates readable.
            ax.set_xscale("log")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.4)
        if axes is not None:
            ax.axis(list(axes))
        ax.legend(loc="lower right")
        if title:
            ax.set_title(title)
        for p in out_paths:
            _save_atomic(fig, p)
    finally:
        fig.clear()
    return curves


def load_ceiling(
    path: str | os.PathLike[str], metric: str = "psnr", ms_ssim_db: bool = True
) -> tuple[float, str]:
    """``(value, name)`` of a single-point result file such as ``liteispnet-isp-only.json``."""
    data = load_result(path, require_bpp=False)
    key = metric_key(metric)
    values = data["results"].get(key)
    if not isinstance(values, list) or len(values) != 1:
        raise ResultFileError(f"{path}: expected one {key!r} value for a ceiling")
    value = float(values[0])
    if key.startswith("ms-ssim") and ms_ssim_db:
        value = ms_ssim_to_db(value)
    return value, data["name"]


def _ceiling(text: str | None, metric: str, ms_ssim_db: bool) -> tuple[float | None, str]:
    if text is None:
        return None, "ISP-only ceiling"
    try:
        return float(text), "ISP-only ceiling"
    except ValueError:
        return load_ceiling(text, metric, ms_ssim_db)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="compressai-isp plot", description="Rate-distortion plot from result JSON files."
    )
    p.add_argument("-f", "--results-file", nargs="+", required=True, help="result JSON files")
    p.add_argument("-m", "--metric", default="psnr", help="psnr or ms-ssim (default: %(default)s)")
    p.add_argument("-t", "--title", default=None, help="plot title")
    p.add_argument(
        "-o",
        "--output",
        nargs="+",
        default=["rd.png"],
        help="output file(s); .png, .svg or .pdf (default: %(default)s)",
    )
    p.add_argument("--ms-ssim-linear", action="store_true", help="plot MS-SSIM itself, not in dB")
    p.add_argument(
        "--ceiling",
        default=None,
        help="draw a horizontal quality ceiling: a number, or a result JSON without bpp such as "
        "the ISP-only file of `anchors isp` (its value of the plotted metric)",
    )
    p.add_argument("--ceiling-label", default=None, help="legend text of --ceiling")
    p.add_argument("--figsize", type=float, nargs=2, default=(9.0, 6.0), help="width height (in)")
    p.add_argument("--log-bpp", action="store_true", help="logarithmic bit-rate axis")
    p.add_argument("--axes", type=float, nargs=4, default=None, help="xmin xmax ymin ymax")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        ceiling, label = _ceiling(args.ceiling, args.metric, not args.ms_ssim_linear)
        plot_rd(
            args.results_file,
            args.output,
            args.metric,
            title=args.title,
            ms_ssim_db=not args.ms_ssim_linear,
            ceiling=ceiling,
            ceiling_label=args.ceiling_label or label,
            axes=args.axes,
            figsize=tuple(args.figsize),
            log_bpp=args.log_bpp,
        )
    except (ResultFileError, ValueError) as err:
        print(f"compressai-isp plot: error: {err}", file=sys.stderr)
        return 1
    for o in args.output:
        print(o)
    return 0


if __name__ == "__main__":
    sys.exit(main())
