"""Print the README's table of full-size models: parameters and MACs per megapixel.

MACs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` (FLOPs / 2) over one
forward pass (entropy model included) on a 512x512 sRGB-sized input, and reported per megapixel
of the sRGB image the model renders (bpp's convention), so RAW and sRGB models compare.

    python benchmarks/model_table.py
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from compressai_isp import zoo

SRGB_SIDE = 512


def measure(arch: str, quality: int) -> tuple[float, float]:
    model = zoo.image_models[arch](quality).train()  # noise quantisation: no sequential coding
    side = SRGB_SIDE if model.input_kind == "srgb" else SRGB_SIDE // 2
    x = torch.rand(1, model.in_channels, side, side)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    params = sum(p.numel() for p in model.parameters())
    macs_per_mp = counter.get_total_flops() / 2 / (SRGB_SIDE * SRGB_SIDE / 1e6)
    return params, macs_per_mp


def main() -> None:
    print("| model | quality | parameters | GMACs / megapixel |")
    print("|---|---|---|---|")
    for arch, quality in [
        ("rbn", 1),
        ("unified-raw", 1),
        ("unified-raw", 5),
        ("raw-comp-teacher", 1),
        ("raw-comp-teacher", 4),
        ("isp-teacher", 1),
        ("liteispnet", 1),
        ("cascaded", 1),
        ("cascaded", 5),
        ("comp-net", 1),
        ("comp-net", 5),
    ]:
        params, macs = measure(arch, quality)
        print(f"| {arch} | {quality} | {params / 1e6:.2f} M | {macs / 1e9:.1f} |")


if __name__ == "__main__":
    main()
