"""Write a synthetic folder's held-out images as DNG files: a test set scored like real photos.

The one-ISP synthetic recipe (``SyntheticRawFolder(isp="libraw")``) makes each sRGB image a
RAW mosaic whose target is LibRaw's render of that mosaic. Written as DNG files (colour matrix
and as-shot white balance included), those mosaics form an ordinary RAW folder: ``eval``,
``anchors`` and the codec read them with the same reader as a camera's files, and LibRaw renders
each one into exactly the target the trainer used (``tests/test_data_datasets.py`` checks it).

    python scripts/synthetic_test_set.py ../shared/data/kodak runs/kodak-test    # the 4 test images
    compressai-isp eval checkpoint runs/kodak-test -p runs/rbn-q6/model_best.pth

The seed and split are the trainer's (``-d synthetic:DIR`` uses seed 0), so the files are the
images no training run of this library saw.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compressai_isp.data import SyntheticRawFolder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="folder of sRGB images (e.g. the Kodak suite)")
    parser.add_argument("out", type=Path, help="folder to write <image name>.dng into")
    parser.add_argument("--split", default="test", choices=["all", "train", "val", "test"])
    parser.add_argument("--seed", type=int, default=0, help="the folder's seed (trainer: 0)")
    parser.add_argument("--no-noise", action="store_true", help="noise-free mosaics")
    args = parser.parse_args(argv)
    folder = SyntheticRawFolder(
        args.source, split=args.split, seed=args.seed, isp="libraw", noise=not args.no_noise
    )
    for index, item in enumerate(folder.items):
        path = folder.write_dng(index, args.out / f"{item.path.stem}.dng")
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
