"""Visual comparison of codecs on one RAW photo: ground truth, decoded images and error maps.

``compressai-isp compare PHOTO.CRW -m rbn:6 -m runs/x/model_best.pth -o compare.png`` codes the
photo for real with every model (``compress`` then ``decompress``, as ``eval`` does:
:func:`compressai_isp.utils.eval_model.inference`) and writes one PNG with, side by side, the
ground truth (the LibRaw rendering, :func:`compressai_isp.data.load_pair`) and for each model its
decoded image and its error map, as RAWtoBit's Fig. 4 shows them. The error map is the per-pixel
CIEDE2000 colour difference (:func:`compressai_isp.metrics.delta_e00_map`) of the 8-bit images,
on one colour scale for every model; titles give bpp (over sRGB pixels), PSNR and mean ΔE00 of
the whole image, the same numbers ``eval`` records. ``--crop X,Y,W,H`` shows only that window
(in output pixels; metrics stay whole-image) so that fine structure such as a periodic pattern
is visible at figure resolution.

A model is ``ARCH:QUALITY`` (zoo weights, as ``eval pretrained -a ARCH -q QUALITY``) or the path
of a checkpoint / exported model (as ``eval checkpoint -p PATH``), ``ARCH:PATH`` for a file that
does not record its architecture (as ``eval checkpoint -a ARCH -p PATH``). An ISP-only model
without an entropy model (zoo ``liteispnet:1``) is shown too, rendered without coding (no bpp).
Each model is fed the photo in its own input space (``model.input_space``, from the file's
colour metadata, as ``eval`` feeds it), so models of either space compare on one figure.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from torch import Tensor, nn

from compressai_isp import io as model_io
from compressai_isp import zoo
from compressai_isp.codec.engine import DEFAULT_ARCH, DEFAULT_QUALITY
from compressai_isp.codec.pipeline import render_isp
from compressai_isp.errors import run_command
from compressai_isp.io.atomic import atomic_open
from compressai_isp.metrics import compute_metrics, delta_e00_map, quantize_8bit
from compressai_isp.utils.errors import EvalError, UsageError
from compressai_isp.utils.eval_model import (
    EvalImage,
    inference,
    load_eval_image,
    model_input_space,
    set_threads,
)

__all__ = [
    "Panel",
    "build_parser",
    "code_and_measure",
    "compare_figure",
    "load_model",
    "main",
    "parse_crop",
]

_ZOO_SPEC = re.compile(r"(?P<arch>[A-Za-z0-9_.+-]+):(?P<quality>\d+)")


@dataclass(frozen=True)
class Panel:
    """One model's result on the photo: the decoded sRGB ``[3,H,W]`` and its scores."""

    label: str
    image: Tensor
    error: np.ndarray  # per-pixel ΔE00 [H, W] against the ground truth
    psnr: float
    delta_e00: float
    bpp: float | None  # None: an ISP-only model, nothing coded


def _has_entropy_model(model: nn.Module) -> bool:
    return callable(getattr(model, "compress", None))


def _checkpoint_of(spec: str) -> tuple[str | None, Path] | None:
    """``(architecture or None, path)`` when ``spec`` names a file as ``PATH`` or ``ARCH:PATH``."""
    if Path(spec).is_file():
        return None, Path(spec)
    arch, sep, rest = spec.partition(":")
    if sep and arch and Path(rest).is_file():
        return arch, Path(rest)
    return None


def load_model(spec: str, metric: str = "mse") -> tuple[nn.Module, str]:
    """``(model, label)`` for ``ARCH:QUALITY`` (zoo weights) or a checkpoint ``[ARCH:]PATH``.

    Built by the loaders ``eval`` uses (``zoo.load_pretrained`` / ``io.load_model``) with the
    same CDF-table policy: zoo tables kept, a checkpoint's rebuilt (it may hold stale ones).
    ``ARCH:`` names the architecture of a file that does not record it (a zoo weight file).
    """
    checkpoint = _checkpoint_of(spec)
    match = _ZOO_SPEC.fullmatch(spec)
    if checkpoint is None and match is None:
        raise UsageError(
            f"model {spec!r}: no such checkpoint file, and not ARCH:QUALITY (e.g. rbn:6)"
        )
    try:
        if checkpoint is not None:
            loaded = model_io.load_model(checkpoint[1], arch=checkpoint[0])
            model, label = loaded.model, f"{loaded.arch} ({checkpoint[1].name})"
        else:
            arch, quality = match["arch"], int(match["quality"])
            model = zoo.load_pretrained(arch, quality, metric).model
            label = f"{arch} q{quality}"
    except (LookupError, ValueError, OSError) as err:
        raise UsageError(f"model {spec!r}: {err}") from err
    if getattr(model, "output_kind", "srgb") != "srgb":
        raise UsageError(f"model {spec!r}: outputs packed RAW, not an sRGB image to compare")
    if _has_entropy_model(model):
        model.update(force=checkpoint is not None)
    return model.eval(), label


def code_and_measure(model: nn.Module, label: str, image: EvalImage) -> Panel:
    """Code ``image`` for real with ``model`` (ISP-only models: render it), fed in the model's
    own input space, and score the result against the image's ground truth."""
    srgb = image.srgb
    raw = image.input(model_input_space(model))
    if _has_entropy_model(model):
        scores, x_hat = inference(model, raw, srgb)
        bpp = scores["bpp"]
    else:
        x_hat, bpp = render_isp(model, raw), None
        scores = compute_metrics(srgb, x_hat)
    decoded = x_hat[0] if x_hat.dim() == 4 else x_hat
    # The map of the 8-bit images, as the metric measures them; its mean is scores["delta-e00"].
    error = delta_e00_map(quantize_8bit(srgb), quantize_8bit(decoded), data_range=255.0)[0]
    return Panel(label, decoded.cpu(), error, scores["psnr-rgb"], scores["delta-e00"], bpp)


def parse_crop(text: str | None, height: int, width: int) -> tuple[slice, slice]:
    """``X,Y,W,H`` (output pixels) -> row and column slices; ``None`` is the whole image."""
    if text is None:
        return slice(0, height), slice(0, width)
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"--crop: expected X,Y,W,H (four integers), got {text!r}") from None
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise UsageError(
            f"--crop {text}: the window must be non-empty and lie inside the {width}x{height} image"
        )
    return slice(y, y + h), slice(x, x + w)


def _title(panel: Panel) -> str:
    rate = "no coding (ISP only)" if panel.bpp is None else f"{panel.bpp:.3f} bpp"
    return f"{panel.label}\n{rate}, {panel.psnr:.2f} dB, ΔE00 {panel.delta_e00:.2f}"


def compare_figure(
    truth: Tensor,
    panels: Sequence[Panel],
    *,
    crop: tuple[slice, slice] | None = None,
    error_max: float | None = None,
    title: str = "",
) -> Figure:
    """A matplotlib ``Figure`` (off-screen, Agg): ground truth, then each image and error map.

    ``error_max`` is the top of the shared ΔE00 colour scale (default: the 99th percentile over
    all maps, so a few outliers do not wash the maps out).
    """
    rows, cols = crop or (slice(None), slice(None))
    if error_max is None:
        error_max = max(float(np.percentile(p.error[rows, cols], 99)) for p in panels) or 1.0
    height, width = truth[:, rows, cols].shape[-2:]
    panel_w = 4.0
    panel_h = panel_w * height / width + 0.8  # room for two title lines
    fig = Figure(figsize=(panel_w * (1 + 2 * len(panels)), panel_h), layout="constrained")
    axes = fig.subplots(1, 1 + 2 * len(panels), squeeze=False)[0]

    def show(ax, image: Tensor, text: str) -> None:
        ax.imshow(image[:, rows, cols].clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="none")
        ax.set_title(text, fontsize=9)
        ax.set_axis_off()

    show(axes[0], truth, "ground truth (LibRaw)\nwhole image" if crop is None else "ground truth")
    for i, panel in enumerate(panels):
        show(axes[1 + 2 * i], panel.image, _title(panel))
        ax = axes[2 + 2 * i]
        im = ax.imshow(
            panel.error[rows, cols], cmap="inferno", vmin=0.0, vmax=error_max, interpolation="none"
        )
        ax.set_title(f"ΔE00 error map\n(scale 0-{error_max:.1f})", fontsize=9)
        ax.set_axis_off()
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _save_png(fig: Figure, path: Path, dpi: int) -> None:
    buffer = io.BytesIO()  # render fully before the target is opened: no half-written file
    fig.savefig(buffer, format="png", dpi=dpi)
    with atomic_open(path) as f:
        f.write(buffer.getvalue())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compressai-isp compare",
        description="Code one RAW photo with one or more models and write a PNG figure: ground "
        "truth (LibRaw), each decoded image and its CIEDE2000 error map, side by side.",
    )
    parser.add_argument("raw", help="camera RAW file (its LibRaw rendering is the ground truth)")
    parser.add_argument(
        "-m",
        "--model",
        dest="models",
        action="append",
        default=None,
        help=f"ARCH:QUALITY (zoo weights) or a checkpoint [ARCH:]PATH; repeat for several "
        f"(default: {DEFAULT_ARCH}:{DEFAULT_QUALITY})",
    )
    parser.add_argument(
        "--metric", choices=["mse", "ms-ssim"], default="mse", help="zoo weights' training metric"
    )
    parser.add_argument(
        "-o", "--output", default=None, help="output PNG (default: <RAW stem>-compare.png)"
    )
    parser.add_argument("--crop", default=None, help="show only the window X,Y,W,H (pixels)")
    parser.add_argument(
        "--error-max", type=float, default=None, help="top of the ΔE00 colour scale"
    )
    parser.add_argument("--dpi", type=int, default=150, help="figure resolution")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch")
    return parser


def run(args: argparse.Namespace) -> Path:
    """Code the photo with every model and write the figure; returns the output path."""
    output = Path(args.output or f"{Path(args.raw).stem}-compare.png")
    if output.suffix.lower() != ".png":
        raise UsageError(f"--output {output}: the figure is a PNG, name it *.png")
    if args.dpi < 10 or (args.error_max is not None and not args.error_max > 0):
        raise UsageError("--dpi must be at least 10 and --error-max positive")
    specs = args.models or [f"{DEFAULT_ARCH}:{DEFAULT_QUALITY}"]
    models = [load_model(spec, args.metric) for spec in specs]  # bad names fail before decoding
    image = load_eval_image(args.raw)
    srgb = image.srgb
    crop = parse_crop(args.crop, srgb.shape[-2], srgb.shape[-1]) if args.crop else None
    panels = []
    for model, label in models:
        try:
            panels.append(code_and_measure(model, label, image))
        except (RuntimeError, ValueError) as err:
            first = (str(err).strip() or type(err).__name__).splitlines()[0]
            raise EvalError(f"{args.raw}: {label}: {first}") from err
    fig = compare_figure(
        srgb, panels, crop=crop, error_max=args.error_max, title=Path(args.raw).name
    )
    _save_png(fig, output, args.dpi)
    return output


def _compare(args: argparse.Namespace) -> int:
    set_threads(args.threads)
    print(run(args))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command("compressai-isp compare", lambda: _compare(args))


if __name__ == "__main__":
    sys.exit(main())
