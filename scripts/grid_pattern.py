"""Where does the regular grid in flat areas of decoded images come from? (issue 13, item 4)

Measures, on one RAW photo (default: the shipped Canon S40 ``CRW_0112``):

1. **Period of the pattern.** For RBN, LiteISPNet and the default model, the 8-bit luma error
   (decoded - LibRaw) of the flattest quarter of 64x64 blocks (blocks aligned to the 32-px
   latent grid) is folded modulo P (averaged over all pixels of equal phase
   ``(y mod P, x mod P)``); the RMS of the part of period P that is not already in period P/2
   is reported for P = 2 ... 32. A pattern locked to a network stride shows
   up at that stride; the same measure on blocks shifted by random offsets is the noise floor.
2. **Constant latent.** ``g_s`` of a spatially constant latent (the photo's per-channel median
   latent): any periodic output comes from the synthesis transform alone.
3. **Which layer makes it.** Forward hooks measure, for every up stage of RBN's decoder, the
   period-2 component (relative to the mean magnitude) of each layer's input and output on that
   constant latent: a layer that turns a flat input into a periodic output creates the grid;
   a pointwise layer (IGDN) can only scale it.

``python scripts/grid_pattern.py [PHOTO]`` (about a minute
with one thread).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from compressai_isp.codec.engine import DEFAULT_ARCH, DEFAULT_QUALITY
from compressai_isp.data import demo_raw_path
from compressai_isp.models import pad_to_multiple
from compressai_isp.utils.compare import code_and_measure, load_model
from compressai_isp.utils.eval_model import load_eval_image

PERIODS = (2, 4, 8, 16, 32)
BLOCK = 64


def luma_8bit(rgb: Tensor) -> np.ndarray:
    x = (rgb.clamp(0, 1) * 255).round().double().numpy()
    return 0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]


def flat_blocks(luma: np.ndarray) -> list[tuple[int, int]]:
    """Top-left corners of the flattest quarter of 64x64 blocks (32 px kept free at the end)."""
    h, w = luma.shape
    corners = [
        (y, x) for y in range(0, h - BLOCK - 32, BLOCK) for x in range(0, w - BLOCK - 32, BLOCK)
    ]
    stds = np.array([luma[y : y + BLOCK, x : x + BLOCK].std() for y, x in corners])
    return [c for c, s in zip(corners, stds, strict=True) if s <= np.percentile(stds, 25)]


def periodic_rms(stack: np.ndarray) -> dict[int, float]:
    """RMS of the own part of each period of the phase-folded ``stack`` ``[n, S, S]``."""
    out, coarser = {}, None
    for p in PERIODS:
        n, s = stack.shape[0], stack.shape[-1]
        fold = stack.reshape(n, s // p, p, s // p, p).mean(axis=(0, 1, 3))
        fold = fold - fold.mean()
        own = fold - (np.tile(coarser, (2, 2)) if coarser is not None else 0.0)
        out[p], coarser = float(np.sqrt((own**2).mean())), fold
    return out


def error_periods(error: np.ndarray, corners, rng: np.random.Generator | None = None):
    offsets = [(0, 0)] * len(corners)
    if rng is not None:  # the control: blocks shifted off the grid at random
        offsets = [tuple(int(v) for v in rng.integers(1, 32, 2)) for _ in corners]
    stack = np.stack(
        [
            error[y + dy : y + dy + BLOCK, x + dx : x + dx + BLOCK]
            for (y, x), (dy, dx) in zip(corners, offsets, strict=True)
        ]
    )
    return periodic_rms(stack)


def layer_periodicity(model, latent: Tensor) -> list[tuple[str, float, float]]:
    """``(layer, period-2 RMS / mean|x| of its input, of its output)`` on ``latent``."""

    def relative(t: Tensor) -> float:
        t = t[0, :, 4:-4, 4:-4]
        c, h, w = t.shape
        t = t[:, : h // 2 * 2, : w // 2 * 2]
        fold = t.reshape(c, h // 2, 2, w // 2, 2).mean(dim=(1, 3))
        periodic = (fold - fold.mean((1, 2), keepdim=True)).pow(2).mean().sqrt()
        return float(periodic / t.abs().mean())

    rows, handles = [], []

    def recorder(name: str):
        def hook(module, inputs, output):
            rows.append((name, relative(inputs[0]), relative(output)))

        return hook

    for stage in ("up5", "up4", "up3", "up2"):
        for part in ("deconv", "igdn"):
            layer = getattr(getattr(model.g_s, stage), part)
            handles.append(layer.register_forward_hook(recorder(f"{stage}.{part}")))
    with torch.no_grad():
        model.g_s(latent)
    for handle in handles:
        handle.remove()
    return rows


def row(label: str, values: dict[int, float], note: str = "") -> None:
    cells = "  ".join(f"{p:>2}px {v:5.2f}" for p, v in values.items())
    print(f"{label:<28}{cells}   {note}".rstrip())


def flat_rms(error: np.ndarray, corners) -> float:
    blocks = [error[y : y + BLOCK, x : x + BLOCK] for y, x in corners]
    return float(np.sqrt(np.mean([(b - b.mean()) ** 2 for b in blocks])))


def constant_inputs(models, raw: Tensor) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """RBN's median latent, ``g_s`` of it and LiteISPNet of a flat RAW (8-bit luma, inner part)."""
    rbn, isp = models["rbn:6"][0], models["liteispnet:1"][0]
    with torch.no_grad():
        y = torch.round(rbn.g_a(pad_to_multiple(raw[None], 64)))
        latent = y.flatten(2).median(-1).values[..., None, None].expand(1, -1, 12, 12)
        latent = latent.contiguous()
        decoded = luma_8bit(rbn.g_s(latent)[0])[64:-64, 64:-64]
        grey = luma_8bit(isp(torch.full((1, 4, 192, 192), 0.1))["x_hat"][0])[64:-64, 64:-64]
    return latent, decoded, grey


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photo", nargs="?", default=str(demo_raw_path()))
    args = parser.parse_args()
    torch.set_num_threads(1)
    image = load_eval_image(args.photo)
    raw, srgb = image.raw, image.srgb
    truth = luma_8bit(srgb)
    corners = flat_blocks(truth)
    print(f"{Path(args.photo).name}: {len(corners)} flat 64x64 blocks")
    print("periodic RMS by period, 8-bit luma levels:")
    row("ground truth itself", error_periods(truth, corners))
    specs = ("rbn:6", "liteispnet:1", f"{DEFAULT_ARCH}:{DEFAULT_QUALITY}")
    models = {spec: load_model(spec) for spec in dict.fromkeys(specs)}  # the default: error only
    for model, label in models.values():
        error = luma_8bit(code_and_measure(model, label, image).image) - truth
        note = f"(flat-area error RMS {flat_rms(error, corners):.2f})"
        row(f"{label} error", error_periods(error, corners), note)
        control = error_periods(error, corners, np.random.default_rng(0))
        row("  control: off-grid blocks", control)
    latent, decoded, grey = constant_inputs(models, raw)
    row("rbn q6, constant latent", periodic_rms(decoded[None]), f"(mean {decoded.mean():.1f})")
    row("liteispnet, constant RAW", periodic_rms(grey[None]), f"(mean {grey.mean():.1f})")
    print("period-2 component / mean |x| on the constant latent (input -> output of each layer):")
    for name, before, after in layer_periodicity(models["rbn:6"][0], latent):
        print(f"  {name:<12} {before:6.3f} -> {after:6.3f}")


if __name__ == "__main__":
    main()
