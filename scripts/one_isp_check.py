"""How close LibRaw renders a one-ISP synthetic RAW back to its source image.

For every image of a folder (the Kodak suite by default) the one-ISP synthetic mosaic
(``synthesize_mosaic(..., isp="libraw")``, clean) is written as a DNG and rendered by LibRaw with
the library's recipe; the render is the synthetic target of ``--synthetic-isp libraw``. Printed
per image, PSNR of the render against the scene the sensor saw:

* the sharp source itself, mosaicked without the camera's optical low-pass filter
  (``low_pass=False``), and the same after an 8x8 box filter, which removes what demosaicing
  changes and leaves the colour and tone the recipe must get right;
* the recipe as the trainer uses it: the source behind the optical low-pass filter
  (:data:`~compressai_isp.data.synthetic.OPTICAL_LOW_PASS`, on linear light), against that
  filtered scene.

    python scripts/one_isp_check.py [FOLDER]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from compressai_isp.data import libraw_render, synthesize_mosaic
from compressai_isp.data.classical_isp import inverse_libraw_gamma, libraw_gamma
from compressai_isp.data.datasets import IMAGE_EXTENSIONS, find_files, read_image
from compressai_isp.data.synthetic import optical_low_pass
from compressai_isp.metrics import psnr


def check(path: Path) -> tuple[float, float, float]:
    """PSNR of LibRaw's render against the sharp source, the same 8x8 box-filtered, and the
    low-pass-filtered render against the low-pass-filtered source."""
    source = torch.from_numpy(read_image(path).astype(np.float32) / 255.0)
    h, w = (s - s % 16 for s in source.shape[1:])
    source = source[:, :h, :w]
    sharp = libraw_render(synthesize_mosaic(source, "RGGB", 0, noise=False, isp="libraw",
                                            low_pass=False))  # fmt: skip
    low = [F.avg_pool2d(x[None], 8)[0] for x in (source, sharp)]
    filtered = libraw_gamma(optical_low_pass(inverse_libraw_gamma(source)))
    behind = libraw_render(synthesize_mosaic(source, "RGGB", 0, noise=False, isp="libraw"))
    return (
        psnr(source, sharp, quantize=True),
        psnr(*low),
        psnr(filtered, behind, quantize=True),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=Path("../shared/data/kodak"))
    args = parser.parse_args(argv)
    rows = [(p.name, *check(p)) for p in find_files(args.folder, IMAGE_EXTENSIONS)]
    for name, full, low, behind in rows:
        print(f"{name}: sharp {full:.2f} dB, 8x8-filtered {low:.2f} dB, behind the optical "
              f"low-pass filter {behind:.2f} dB")  # fmt: skip
    means = [statistics.fmean(r[k] for r in rows) for k in (1, 2, 3)]
    print(f"mean over {len(rows)}: sharp {means[0]:.2f} dB, 8x8-filtered {means[1]:.2f} dB, "
          f"behind the optical low-pass filter {means[2]:.2f} dB")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
