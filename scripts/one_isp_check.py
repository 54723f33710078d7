"""How close LibRaw renders a one-ISP synthetic RAW back to its source image.

For every image of a folder (the Kodak suite by default) the one-ISP synthetic mosaic
(``synthesize_mosaic(..., isp="libraw")``, clean) is written as a DNG and rendered by LibRaw with
the library's recipe; the render is the synthetic target of ``--synthetic-isp libraw``. Printed
per image: PSNR of the render against the source, and the same after an 8x8 box filter, which
removes what demosaicing changes and leaves the colour and tone the recipe must get right.

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
from compressai_isp.data.datasets import IMAGE_EXTENSIONS, find_files, read_image
from compressai_isp.metrics import psnr


def check(path: Path) -> tuple[float, float]:
    """``(PSNR, PSNR after an 8x8 box filter)`` of LibRaw's render against ``path``."""
    source = torch.from_numpy(read_image(path).astype(np.float32) / 255.0)
    h, w = (s - s % 16 for s in source.shape[1:])
    source = source[:, :h, :w]
    render = libraw_render(synthesize_mosaic(source, "RGGB", 0, noise=False, isp="libraw"))
    low = [F.avg_pool2d(x[None], 8)[0] for x in (source, render)]
    return psnr(source, render, quantize=True), psnr(*low)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=Path("../shared/data/kodak"))
    args = parser.parse_args(argv)
    rows = [(p.name, *check(p)) for p in find_files(args.folder, IMAGE_EXTENSIONS)]
    for name, full, low in rows:
        print(f"{name}: {full:.2f} dB, 8x8-filtered {low:.2f} dB")
    print(
        f"mean over {len(rows)}: {statistics.fmean(r[1] for r in rows):.2f} dB, "
        f"8x8-filtered {statistics.fmean(r[2] for r in rows):.2f} dB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
