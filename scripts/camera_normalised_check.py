#!/usr/bin/env python
"""Check the camera-normalised input against LibRaw: classical ISP vs LibRaw's own render.

For every RAW file: ``read_raw(path).input("camera-normalised")`` (as-shot white balance and
LibRaw's camera -> sRGB matrix, :mod:`compressai_isp.data.input_space`), then a plain bilinear
demosaic and LibRaw's BT.709 curve (:func:`compressai_isp.data.classical_isp.classical_isp`),
against LibRaw's render with the project's ground-truth recipe (``RENDER_RECIPE``, 16-bit
output so that output quantisation does not count). Full-image PSNR per file and its mean per
camera; the paper's input through the same ISP is shown for contrast.

The Kodak DC120 has non-square pixels, which ``read_raw`` refuses: here it is read without that
check and our linear image is stretched along the width the way LibRaw stretches its render
(linear interpolation at column ``c / pixel_aspect``), then compared on the columns the Bayer
crop covers. Generated DNGs are made from Kodak suite images (``make_synthetic_dng``: the Nikon
D700 matrix, random white balance, noise), a camera absent from the RAW files.

    OMP_NUM_THREADS=1 python scripts/camera_normalised_check.py [--data ../shared/data] \\
        [--kodak 1,5,13,23] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from unittest import mock

import imagecodecs
import numpy as np
import rawpy
import torch
import torch.nn.functional as F

from compressai_isp.data import RENDER_RECIPE, make_synthetic_dng, read_raw
from compressai_isp.data import raw as raw_module
from compressai_isp.data.classical_isp import bilinear_demosaic, classical_isp, libraw_gamma

CAMERAS = {
    "Canon PowerShot S40": "*PowerShot_S40*.CRW",
    "Canon PowerShot G2": "*PowerShot_G2*.CRW",
    "Kodak DC120": "*DC120*.KDC",
    "Kodak DC50": "*DC50*.KDC",
}


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(10 * torch.log10(1 / (a - b).double().pow(2).mean()))


# LibRaw's render with no colour science at all: only its demosaicing differs from ours.
CAMERA_COLOURS = {
    "use_camera_wb": False,
    "user_wb": [1, 1, 1, 1],
    "output_color": rawpy.ColorSpace.raw,
}


def libraw_render(path: Path, **changes) -> torch.Tensor:
    """LibRaw's ground-truth render, 16-bit, ``[3, H, W]`` in ``[0, 1]``, full sensor area."""
    with rawpy.imread(str(path)) as raw:
        rgb = raw.postprocess(output_bps=16, **{**RENDER_RECIPE, **changes})
    return torch.from_numpy(rgb.astype(np.float64) / 65535).permute(2, 0, 1)


def stretch_width(linear: torch.Tensor, aspect: float, first_column: int, width: int):
    """LibRaw's stretch of a linear image whose sensor columns start at ``first_column``:
    output column ``c`` interpolates sensor column ``c / aspect``. Returns the stretched image
    and the output columns it covers."""
    out_width = int(width * aspect + 0.5)
    source = torch.arange(out_width, dtype=torch.float64) / aspect - first_column
    usable = (source >= 0) & (source <= linear.shape[-1] - 1)
    columns = torch.nonzero(usable).flatten()
    s = source[columns]
    left = s.floor().long().clamp(max=linear.shape[-1] - 2)
    frac = s - left
    stretched = linear[..., left] * (1 - frac) + linear[..., left + 1] * frac
    return stretched, columns


def measure(path: Path) -> dict[str, float]:
    """PSNR of the classical ISP against LibRaw: camera-normalised and paper input against its
    render, and the paper input against its camera-colour render (demosaicing alone)."""
    with rawpy.imread(str(path)) as raw:
        aspect = float(raw.sizes.pixel_aspect)
    # read_raw refuses resampled (non-square-pixel) cameras; the check handles their geometry.
    with mock.patch.object(raw_module, "_check_geometry", lambda raw, path: None):
        image = read_raw(path)
    render, camera_colours = libraw_render(path), libraw_render(path, **CAMERA_COLOURS)
    top, left, height, width = image.crop
    scores = {}
    for name, space, reference in (
        ("normalised", "camera-normalised", render),
        ("paper", "paper", render),
        ("demosaic_only", "paper", camera_colours),
    ):
        packed = image.input(space).double()
        if abs(aspect - 1) < 1e-6:
            ours = classical_isp(packed)
            scores[name] = psnr(ours, reference[:, top : top + height, left : left + width])
            continue
        linear, columns = stretch_width(bilinear_demosaic(packed), aspect, left, image.raw_size[1])
        scores[name] = psnr(libraw_gamma(linear), reference[:, top : top + height, columns])
    return scores


def generated_dngs(kodak: Path, numbers: list[int], folder: Path, blur: bool) -> list[Path]:
    """DNGs made from Kodak images; with ``blur`` the image is first filtered with a 5x5
    binomial kernel, band-limited like a camera behind an optical low-pass filter."""
    kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    kernel = (kernel[:, None] * kernel[None, :]).expand(3, 1, 5, 5)
    paths = []
    for n in numbers:
        srgb = imagecodecs.imread(str(kodak / f"kodim{n:02d}.png"))
        image = torch.from_numpy(np.ascontiguousarray(srgb.transpose(2, 0, 1))).float() / 255
        if blur:
            image = F.conv2d(F.pad(image[None], (2, 2, 2, 2), mode="reflect"), kernel, groups=3)[0]
        name = f"kodim{n:02d}{'-blurred' if blur else ''}.dng"
        paths.append(make_synthetic_dng(folder / name, image, "RGGB", seed=n))
    return paths


def summary(results: dict[str, list[dict]]) -> str:
    lines = [
        "| camera | files | camera-normalised input | paper input | demosaicing alone |",
        "|---|---|---|---|---|",
    ]
    for camera, rows in results.items():
        cells = []
        for key in ("normalised", "paper", "demosaic_only"):
            v = [r[key] for r in rows]
            spread = f" ({min(v):.2f}-{max(v):.2f})" if len(v) > 1 else ""
            cells.append(f"{np.mean(v):.2f}{spread}")
        lines.append(f"| {camera} | {len(rows)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_data = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--kodak", default="1,5,13,23", help="Kodak images made into DNGs")
    parser.add_argument("--json", type=Path, help="write the per-file results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if not (args.data / "raw").is_dir():
        print(f"{args.data}/raw: no such folder (pass --data)", file=sys.stderr)
        return 2
    results: dict[str, list[dict]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        groups = {name: sorted((args.data / "raw").glob(p)) for name, p in CAMERAS.items()}
        numbers = [int(v) for v in args.kodak.split(",") if v]
        for blur, label in ((False, "sharp"), (True, "band-limited")):
            dngs = generated_dngs(args.data / "kodak", numbers, Path(tmp), blur)
            groups[f"generated DNG, Kodak {label}"] = dngs
        for camera, files in groups.items():
            for path in files:
                scores = measure(path)
                results[camera].append({"file": path.name, **scores})
                cells = "  ".join(f"{k} {v:6.2f}" for k, v in scores.items())
                print(f"{camera:34s} {path.name:40s} {cells}", flush=True)
    print("\n" + summary(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
