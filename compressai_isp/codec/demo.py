"""``compressai-isp demo``: the whole RAWtoBit job on a real camera file, on any machine.

Encodes the CC0 photo shipped with the package (:func:`compressai_isp.data.demo_raw_path`)
with the default model (:data:`~compressai_isp.codec.engine.DEFAULT_ARCH`), writes the
``.rbit`` file, decodes it back from disk, and writes the decoded PNG and a figure (LibRaw
render | our decode | error map). It prints bits per pixel over the sRGB pixels (paper §4.2),
PSNR / MS-SSIM against the LibRaw render (the paper's ground truth, §4.1), file sizes and
encode / decode times. Nothing is downloaded; without the shipped weights it stops and says
which weights are missing.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from matplotlib.figure import Figure

from compressai_isp import zoo
from compressai_isp.codec.engine import (
    DEFAULT_ARCH,
    DEFAULT_METRIC,
    DEFAULT_QUALITY,
    CodecModel,
    decode_bitstream,
    encode_raw,
    model_for_stream,
    orient,
    save_image,
    zoo_model,
)
from compressai_isp.codec.format import read_bitstream
from compressai_isp.data import demo_raw_path, read_raw, render_srgb
from compressai_isp.errors import UsageError, one_line, run_command
from compressai_isp.io.atomic import atomic_open
from compressai_isp.metrics import bpp_from_strings, compute_metrics

__all__ = ["build_parser", "main", "run_demo", "DemoResult"]


@dataclass(frozen=True)
class DemoResult:
    raw_path: Path
    stream_path: Path
    png_path: Path
    figure_path: Path
    raw_bytes: int
    stream_bytes: int
    num_pixels: int
    bpp: float
    psnr: float
    ms_ssim: float
    encode_s: float
    decode_s: float
    model: str

    def report(self) -> str:
        lines = [
            f"RAW sample      {self.raw_path.name}: {self.raw_bytes:,} bytes",
            f"model           {self.model}",
            f"bitstream       {self.stream_path}: {self.stream_bytes:,} bytes "
            f"({self.raw_bytes / self.stream_bytes:.1f}x smaller than the RAW file)",
            f"rate            {self.bpp:.4f} bpp over {self.num_pixels:,} sRGB pixels "
            "(whole file: header and CRC included)",
            f"quality         PSNR {self.psnr:.2f} dB, MS-SSIM {self.ms_ssim:.4f} "
            "against the LibRaw render (8-bit)",
            f"times           encode {self.encode_s:.2f} s, decode {self.decode_s:.2f} s "
            f"({torch.get_num_threads()} CPU threads)",
            f"decoded image   {self.png_path}",
            f"figure          {self.figure_path}",
        ]
        return "\n".join(lines)


def _figure(reference: torch.Tensor, decoded: torch.Tensor, title: str) -> bytes:
    """PNG bytes of LibRaw render | decode | per-pixel absolute error (mean over RGB)."""
    # A bare Figure renders off-screen (Agg) and leaves pyplot's backend and registry alone.
    error = (decoded - reference).abs().mean(0).numpy()
    height, width = error.shape
    fig = Figure(figsize=(15, 15 * height / width / 3 + 0.7), layout="constrained")
    axes = fig.subplots(1, 3)
    panels = [("LibRaw render (reference)", reference), ("RAWtoBit decode", decoded)]
    for ax, (name, image) in zip(axes, panels, strict=False):
        ax.imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
        ax.set_title(name)
    shown = axes[2].imshow(error, cmap="magma", vmin=0, vmax=max(float(error.max()), 1e-6))
    axes[2].set_title("absolute error (mean over RGB)")
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.02)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def run_demo(
    cm: CodecModel, output_dir: str | os.PathLike[str], raw_path: Path | None = None
) -> DemoResult:
    """Encode, write, read back, decode and measure one RAW file with the codec model ``cm``."""
    raw_path = Path(raw_path) if raw_path is not None else demo_raw_path()
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = raw_path.stem
    stream_path, png_path = out / f"{stem}.rbit", out / f"{stem}.png"
    figure_path = out / f"{stem}_comparison.png"

    raw = read_raw(raw_path)
    start = time.perf_counter()
    data = encode_raw(raw, cm)
    encode_s = time.perf_counter() - start
    with atomic_open(stream_path) as f:
        f.write(data)

    # Decode what is on disk, as a user would: header parsed and weights checked.
    start = time.perf_counter()
    bs = read_bitstream(stream_path)
    decoder = model_for_stream(bs.header, str(stream_path), cm)
    decoded = decode_bitstream(bs, decoder, str(stream_path), apply_orientation=False)
    decode_s = time.perf_counter() - start
    save_image(png_path, orient(decoded, bs.header.geometry.orientation))

    reference = render_srgb(raw_path)
    num_pixels = bs.header.geometry.num_pixels
    bpp = bpp_from_strings(data, num_pixels)
    # 8-bit PSNR / MS-SSIM, exactly as evaluation and the zoo's model cards report them.
    scores = compute_metrics(reference[None], decoded[None])
    score, similarity = scores["psnr-rgb"], scores["ms-ssim-rgb"]
    title = (
        f"{raw_path.name}: {bpp:.3f} bpp, PSNR {score:.2f} dB vs LibRaw ({cm.arch} q{cm.quality})"
    )
    figure = _figure(reference, decoded, title)
    with atomic_open(figure_path) as f:
        f.write(figure)
    return DemoResult(
        raw_path=raw_path,
        stream_path=stream_path,
        png_path=png_path,
        figure_path=figure_path,
        raw_bytes=raw_path.stat().st_size,
        stream_bytes=len(data),
        num_pixels=num_pixels,
        bpp=bpp,
        psnr=score,
        ms_ssim=similarity,
        encode_s=encode_s,
        decode_s=decode_s,
        model=f"{cm.arch} q{cm.quality} {cm.metric}, weights {cm.fingerprint.hex()} ({cm.source})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="compressai-isp demo",
        description="Encode the shipped CC0 demo photo with the default model "
        f"({DEFAULT_ARCH} quality {DEFAULT_QUALITY}), decode it and compare with LibRaw.",
    )
    # -d/--output-directory as eval's; --output-dir is this command's first spelling.
    parser.add_argument(
        "-d", "--output-directory", "--output-dir", dest="output_dir", metavar="DIR",
        type=Path, default=Path("compressai-isp-demo"),
        help="where the .rbit, the decoded PNG and the figure go (./compressai-isp-demo)",
    )  # fmt: skip
    parser.add_argument(
        "--raw", type=Path, default=None,
        help="RAW photo to use instead of the shipped CC0 demo photo",
    )  # fmt: skip
    return parser


def _default_model() -> CodecModel:
    try:
        return zoo_model(DEFAULT_ARCH, DEFAULT_QUALITY, DEFAULT_METRIC)
    except LookupError as err:
        raise UsageError(
            f"the default model's weights are missing (compressai_isp.zoo."
            f"{zoo.image_models[DEFAULT_ARCH].__name__}"
            f"(quality={DEFAULT_QUALITY}, pretrained=True)): {one_line(err)}"
        ) from err


def _demo(args: argparse.Namespace) -> int:
    result = run_demo(_default_model(), args.output_dir, raw_path=args.raw)
    print(result.report())
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as done:
        return int(done.code or 0)
    return run_command("compressai-isp demo", lambda: _demo(args))


if __name__ == "__main__":
    sys.exit(main())
