"""Rate-distortion plots from any number of result JSON files (PNG, SVG, PDF).

Like ``compressai.utils.plot``: one curve per file, quality against bits per sRGB pixel, MS-SSIM
shown in dB (``-10 log10(1 - x)``) unless ``--ms-ssim-linear``. Standard codecs and other anchors
(names containing JPEG, WebP, AVIF, ...) are drawn dashed so learned codecs stand out. An optional
horizontal line marks a quality ceiling, e.g. the ISP-only PSNR that bounds any cascade
(RAWtoBit §4.2: 32.82 dB for LiteISPNet on FiveK D700); a result file without rates (the
ISP-only file of ``anchors isp``) given with ``-f`` is drawn the same way. ``-l/--labels`` names
the curves in the legend without touching the files. Rendering is off-screen (a bare
matplotlib ``Figure``, Agg), so it never opens a window or touches pyplot's global state.

CLI::

    python -m compressai_isp.utils.plot -f rbn.json jpeg.json -m psnr -o rd.png rd.svg
    python -m compressai_isp.utils.plot -f a.json b.json -l "pretrained" "fine-tuned" -o rd.png
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from compressai_isp.errors import run_command
from compressai_isp.io.atomic import atomic_open
from compressai_isp.utils.errors import UsageError
from compressai_isp.utils.results import (
    RDCurve,
    ResultFileError,
    load_curve,
    load_result,
    metric_key,
    ms_ssim_to_db,
)

__all__ = ["ANCHOR_MARKERS", "build_parser", "load_ceiling", "main", "plot_rd"]

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


def _save_atomic(fig: Figure, path: Path) -> None:
    with atomic_open(path) as f:
        fig.savefig(f, dpi=200, format=path.suffix[1:].lower(), bbox_inches="tight")


def _load_curves(
    result_files: Sequence[str | os.PathLike[str]],
    metric: str,
    ms_ssim_db: bool,
    labels: Sequence[str] | None,
) -> list[RDCurve]:
    """One curve per file, named by ``labels`` when given. A result without ``bpp`` (the
    ISP-only file of ``anchors isp``) is a level: an ``RDCurve`` with no rates and one value."""
    if labels is not None and len(labels) != len(result_files):
        raise UsageError(
            f"{len(labels)} labels for {len(result_files)} result files (give one per -f file)"
        )
    curves = []
    for n, path in enumerate(result_files):
        if "bpp" in load_result(path, require_bpp=False)["results"]:
            curve = load_curve(path, metric, ms_ssim_db=ms_ssim_db)
        else:
            value, name = load_ceiling(path, metric, ms_ssim_db)
            curve = RDCurve(name=name, bpp=(), values=(value,), metric=metric_key(metric))
        curves.append(replace(curve, name=labels[n]) if labels is not None else curve)
    return curves


def _draw(ax: Axes, curves: Sequence[RDCurve]) -> None:
    # Every curve its own colour: the default cycle repeats after 10, tab20 after 20.
    palette = "tab10" if len(curves) <= 10 else "tab20"
    colors = matplotlib.colormaps[palette].colors
    for n, c in enumerate(curves):
        color = colors[n % len(colors)]
        if not c.bpp:  # a quality without a rate: a horizontal line across the plot
            ax.axhline(c.values[0], color=color, linestyle=":", linewidth=1.2, label=c.name)
            continue
        order = sorted(range(len(c.bpp)), key=c.bpp.__getitem__)
        ax.plot(
            [c.bpp[i] for i in order],
            [c.values[i] for i in order],
            marker="o" if not _is_anchor(c.name) else ".",
            markersize=4,
            linestyle="--" if _is_anchor(c.name) else "-",
            linewidth=1.0,
            color=color,
            label=c.name,
        )


def _ylabel(key: str, ms_ssim_db: bool) -> str:
    if key.startswith("ms-ssim"):
        return "MS-SSIM [dB]" if ms_ssim_db else "MS-SSIM"
    if key.startswith("psnr"):
        return "PSNR [dB] (sRGB)"
    return key


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
    labels: Sequence[str] | None = None,
) -> list[RDCurve]:
    """Draw one RD curve per result file and save the figure to every path in ``outputs``.

    The format follows each output's suffix (``.png``, ``.svg`` or ``.pdf``). ``labels`` name
    the curves in the legend (one per file; default: each file's ``name``). A result file
    without ``bpp`` (an ISP-only result) is drawn as a horizontal line at its value. Returns the
    curves plotted (such a line with empty ``bpp``). Raises
    :class:`~compressai_isp.utils.results.ResultFileError` naming a bad file and
    :class:`~compressai_isp.utils.errors.UsageError` (a ``ValueError``) for an unsupported
    output format or a wrong number of labels, before anything is written.
    """
    if not result_files:
        raise UsageError("no result files to plot")
    if not outputs:
        raise UsageError("no output file given (use e.g. rd.png rd.svg)")
    out_paths = [Path(o) for o in outputs]
    for p in out_paths:
        if p.suffix.lower() not in _FORMATS:
            raise UsageError(f"{p}: unsupported plot format (use {', '.join(sorted(_FORMATS))})")
    curves = _load_curves(result_files, metric, ms_ssim_db, labels)

    # A bare Figure (no pyplot) renders off-screen with Agg and leaves the caller's backend and
    # figure registry alone, so this works the same in scripts, CI and notebooks.
    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    try:
        _draw(ax, curves)
        if ceiling is not None:
            ax.axhline(ceiling, color="gray", linestyle=":", linewidth=1.0, label=ceiling_label)
        ax.set_xlabel("Bit-rate [bpp, sRGB output pixels]")
        if log_bpp:
            # Codec sweeps often span two decades of rate; a log axis keeps low rates readable.
            ax.set_xscale("log")
        ax.set_ylabel(_ylabel(curves[0].metric, ms_ssim_db))
        ax.grid(True, alpha=0.4)
        if axes is not None:
            ax.axis(list(axes))
        if len(ax.get_legend_handles_labels()[1]) > 6:
            # Many curves: a legend inside would hide some of them.
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        else:
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
        raise ResultFileError(
            f"{path}: expected a 'bpp' list (an RD curve) or one {key!r} value (a level such as "
            "an ISP-only result)"
        )
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="compressai-isp plot", description="Rate-distortion plot from result JSON files."
    )
    p.add_argument("-f", "--results-file", nargs="+", required=True, help="result JSON files")
    p.add_argument("-m", "--metric", default="psnr", help="psnr or ms-ssim (default: %(default)s)")
    p.add_argument(
        "-l",
        "--labels",
        nargs="+",
        default=None,
        metavar="LABEL",
        help="legend names, one per -f file in the same order (default: each file's name)",
    )
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


def _plot(args: argparse.Namespace) -> int:
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
        labels=args.labels,
    )
    for o in args.output:
        print(o)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command("compressai-isp plot", lambda: _plot(args))


if __name__ == "__main__":
    sys.exit(main())
