"""A classical ISP for camera-normalised packed RAW: bilinear demosaic and LibRaw's gamma.

With the colour science applied as metadata (:mod:`.input_space`), what is left of LibRaw's
render is demosaicing and the output curve. :func:`classical_isp` does both in the simplest way
(bilinear interpolation, then LibRaw's BT.709 curve at its fixed white level), which is how the
camera-normalised input is checked against LibRaw's own render, and a rival that learns
nothing.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from .bayer import unpack_bayer

__all__ = ["bilinear_demosaic", "classical_isp", "inverse_libraw_gamma", "libraw_gamma"]

# Interpolation kernels over a colour's masked mosaic: green has every other site (4 direct
# neighbours), red and blue every fourth (2 or 4 neighbours, weighted by distance).
_GREEN_KERNEL = torch.tensor([[0.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 0.0]]) / 4
_RED_BLUE_KERNEL = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 4


def bilinear_demosaic(packed: torch.Tensor) -> torch.Tensor:
    """RGGB-packed ``[..., 4, h, w]`` -> bilinearly demosaiced RGB ``[..., 3, 2h, 2w]``.

    Borders are mirrored about the edge pixel, which keeps the CFA phase of the mirrored sites.
    """
    if not packed.is_floating_point() or packed.shape[-3] != 4:
        raise ValueError(
            f"packed RAW must be float [..., 4, h, w]; got {packed.dtype} {tuple(packed.shape)}"
        )
    lead, h, w = packed.shape[:-3], 2 * packed.shape[-2], 2 * packed.shape[-1]
    mosaic = unpack_bayer(packed, "RGGB").reshape(-1, 1, h, w)
    masks = torch.zeros(3, 1, 2, 2, dtype=mosaic.dtype, device=mosaic.device)
    masks[0, 0, 0, 0] = masks[2, 0, 1, 1] = 1.0
    masks[1, 0, 0, 1] = masks[1, 0, 1, 0] = 1.0
    planes = mosaic * masks.repeat(1, 1, h // 2, w // 2).view(1, 3, h, w)
    kernels = torch.stack([_RED_BLUE_KERNEL, _GREEN_KERNEL, _RED_BLUE_KERNEL])[:, None]
    padded = F.pad(planes, (1, 1, 1, 1), mode="reflect")
    rgb = F.conv2d(padded, kernels.to(planes), groups=3)
    return rgb.view(*lead, 3, h, w)


@functools.lru_cache(maxsize=8)
def _gamma_segments(power: float, slope: float) -> tuple[float, float]:
    """Input breakpoint ``x0`` and offset ``a`` of the curve ``slope * x`` below ``x0`` and
    ``(1 + a) x^(1/power) - a`` above, joined with equal value and slope (BT.709's form)."""
    p = 1.0 / power

    def mismatch(x0: float) -> float:  # value gap at x0 once the slopes are matched
        return slope * x0 ** (1 - p) / p - slope * x0 * (1 / p - 1) - 1

    lo, hi = 1e-12, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if mismatch(mid) > 0 else (mid, hi)
    x0 = (lo + hi) / 2
    return x0, slope * x0 * (1 / p - 1)


def libraw_gamma(linear: torch.Tensor, power: float = 2.222, slope: float = 4.5) -> torch.Tensor:
    """LibRaw's output curve (``gamma=(power, slope)``, default BT.709) with white at 1.0;
    values are clipped to ``[0, 1]`` first, as LibRaw clips before its curve."""
    if not (power > 1 and slope > 1 and math.isfinite(power) and math.isfinite(slope)):
        raise ValueError(f"gamma must be (power > 1, slope > 1); got ({power}, {slope})")
    x0, a = _gamma_segments(float(power), float(slope))
    x = linear.clamp(0.0, 1.0)
    curved = (1 + a) * x.clamp_min(x0) ** (1.0 / power) - a
    return torch.where(x < x0, x * slope, curved)


def inverse_libraw_gamma(
    encoded: torch.Tensor, power: float = 2.222, slope: float = 4.5
) -> torch.Tensor:
    """The linear value :func:`libraw_gamma` maps to ``encoded`` (clipped to ``[0, 1]``): how
    a synthetic RAW is made that LibRaw's recipe renders back to its source."""
    if not (power > 1 and slope > 1 and math.isfinite(power) and math.isfinite(slope)):
        raise ValueError(f"gamma must be (power > 1, slope > 1); got ({power}, {slope})")
    x0, a = _gamma_segments(float(power), float(slope))
    y = encoded.clamp(0.0, 1.0)
    return torch.where(y < x0 * slope, y / slope, ((y + a) / (1 + a)) ** power)


def classical_isp(packed: torch.Tensor) -> torch.Tensor:
    """Camera-normalised packed RAW ``[..., 4, h, w]`` -> sRGB ``[..., 3, 2h, 2w]`` in
    ``[0, 1]``: bilinear demosaic, then LibRaw's BT.709 curve."""
    return libraw_gamma(bilinear_demosaic(packed))
