"""Synthetic RAW from sRGB images: an inverted camera pipeline (seeded).

Lets the library train on sRGB-only collections (e.g. the Kodak suite) and lets tests build RAW
data of any CFA. The steps invert a simple camera ISP, following the "unprocessing" recipe of
Brooks et al., *Unprocessing Images for Learned Raw Denoising* (CVPR 2019):

1. inverse global tone curve (the smoothstep ``3x² - 2x³``);
2. inverse sRGB transfer function (IEC 61966-2-1) to linear sRGB;
3. inverse colour correction: linear sRGB -> camera RGB with ``rgb2cam = xyz2cam · srgb2xyz``,
   rows normalised to sum to one so that white stays white (default ``xyz2cam``: the Nikon D700
   matrix, the camera of RAWtoBit §4.1);
4. inverse white balance and exposure: divide by per-image gains (red ``U(1.9, 2.4)``, blue
   ``U(1.5, 1.9)``, overall ``1 / N(0.8, 0.1)``);
5. mosaic through the CFA;
6. heteroscedastic noise ``N(0, read + shot · x)`` with ``log shot ~ U(log 1e-4, log 0.012)`` and
   ``log read = 2.18 · log shot + 1.2 + N(0, 0.26)``.

Everything random is drawn from one ``torch.Generator`` seeded by ``seed``.

``isp="libraw"`` inverts the ISP the real targets come from instead (LibRaw with
:data:`~compressai_isp.data.RENDER_RECIPE`): step 1 is dropped, step 2 inverts LibRaw's BT.709
curve, and there is no exposure gain (LibRaw's recipe applies none), so LibRaw renders the
mosaic, written as a DNG with its matrix and gains, back to its source up to demosaicing and
clipping. Real and synthetic RAW then share one ISP: the same input statistics map to one
kind of output (:class:`~compressai_isp.data.SyntheticRawFolder` takes LibRaw's render of the
mosaic as the target). It also puts the camera's optical low-pass filter in front of the
sensor (``low_pass``, :data:`OPTICAL_LOW_PASS`, on linear light before step 3): a sharp
image mosaicked without one aliases, which no real camera of our data does (bilinear and AHD
demosaicing agree to 42 dB on the Canon files, to 28.7 dB on unfiltered Kodak mosaics and to
36.8 dB behind this filter; README, "Synthetic RAW and DNG files").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .bayer import mosaic as cfa_mosaic
from .bayer import normalize_cfa, pack_bayer
from .classical_isp import inverse_libraw_gamma

__all__ = [
    "NIKON_D700_XYZ_TO_CAM",
    "OPTICAL_LOW_PASS",
    "optical_low_pass",
    "SRGB_TO_XYZ",
    "SYNTHETIC_ISPS",
    "SyntheticRaw",
    "synthesize_mosaic",
    "synthesize_raw",
    "random_scene",
]

#: Linear sRGB -> CIE XYZ (D65), IEC 61966-2-1.
SRGB_TO_XYZ = torch.tensor(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
#: XYZ (D65) -> Nikon D700 camera RGB (Adobe DNG ColorMatrix, as published in dcraw's table).
NIKON_D700_XYZ_TO_CAM = torch.tensor(
    [[0.8139, -0.2171, -0.0663], [-0.8747, 1.6541, 0.2295], [-0.1925, 0.2008, 0.8093]]
)
#: A Bayer camera's optical low-pass filter, per axis: the birefringent plate's two spots one
#: pixel apart convolved with the pixel's own aperture, ``[1, 2, 1] / 4`` (separable).
OPTICAL_LOW_PASS = (0.25, 0.5, 0.25)
#: The camera ISPs a synthetic RAW can invert (see the module docstring): Brooks et al.'s
#: unprocessing (the paper's recipe, with the source image as its target) or LibRaw's recipe.
SYNTHETIC_ISPS = ("unprocessing", "libraw")


@dataclass
class SyntheticRaw:
    """A synthetic Bayer capture.

    Attributes:
        mosaic: float32 ``[H, W]`` normalised sensor values in ``[0, 1]`` (black 0, white 1).
        cfa: its 2×2 pattern.
        wb_gains: the camera white-balance multipliers (R, G, B) the inverse step divided out.
        exposure_gain: the overall gain divided out.
        xyz2cam: 3×3 XYZ -> camera matrix (before row normalisation), for a DNG ``ColorMatrix1``.
        shot_noise, read_noise: the noise variance parameters used (0 when noise is off).
    """

    mosaic: torch.Tensor
    cfa: str
    wb_gains: tuple[float, float, float]
    exposure_gain: float
    xyz2cam: torch.Tensor
    shot_noise: float
    read_noise: float

    @property
    def packed(self) -> torch.Tensor:
        """``[4, h, w]`` RGGB-packed (after the CFA crop of :func:`~.bayer.cfa_crop`)."""
        return pack_bayer(self.mosaic, self.cfa)


def _as_tensor(srgb: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(srgb)
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    x = x.float()
    if x.dim() != 3 or x.shape[0] != 3:
        raise ValueError(f"srgb must be [3, H, W]; got {tuple(x.shape)}")
    return x.clamp(0.0, 1.0)


def _rgb2cam(xyz2cam: torch.Tensor) -> torch.Tensor:
    m = xyz2cam @ SRGB_TO_XYZ
    return m / m.sum(dim=1, keepdim=True)


def _uniform(g: torch.Generator, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


def optical_low_pass(linear: torch.Tensor) -> torch.Tensor:
    """``linear`` ``[3, H, W]`` through :data:`OPTICAL_LOW_PASS` (edges replicated)."""
    taps = torch.tensor(OPTICAL_LOW_PASS, dtype=linear.dtype)
    kernel = (taps[:, None] * taps[None, :]).expand(3, 1, len(taps), len(taps))
    pad = len(taps) // 2
    padded = F.pad(linear[None], (pad, pad, pad, pad), mode="replicate")
    return F.conv2d(padded, kernel, groups=3)[0]


def synthesize_mosaic(
    srgb: torch.Tensor | np.ndarray,
    cfa: str = "RGGB",
    seed: int = 0,
    *,
    noise: bool = True,
    xyz2cam: torch.Tensor | Sequence[Sequence[float]] | None = None,
    wb_gains: tuple[float, float, float] | None = None,
    exposure_gain: float | None = None,
    isp: str = "unprocessing",
    low_pass: bool | None = None,
) -> SyntheticRaw:
    """Invert a camera pipeline on ``srgb`` (``[3, H, W]`` in ``[0, 1]``) into a ``cfa`` mosaic.

    ``wb_gains``/``exposure_gain`` fix those parameters instead of drawing them; ``noise=False``
    gives the clean mosaic. ``isp`` names the pipeline inverted (:data:`SYNTHETIC_ISPS`); the
    gains and noise drawn from a seed are the same for both. ``low_pass`` filters the linear
    scene with :data:`OPTICAL_LOW_PASS` (default: on for ``"libraw"``, off for the paper's
    ``"unprocessing"``). The result depends only on the inputs and ``seed``.
    """
    if isp not in SYNTHETIC_ISPS:
        raise ValueError(f"isp must be one of {', '.join(SYNTHETIC_ISPS)}; got {isp!r}")
    cfa = normalize_cfa(cfa)
    x = _as_tensor(srgb)
    g = torch.Generator().manual_seed(int(seed))
    m_xyz2cam = (
        NIKON_D700_XYZ_TO_CAM if xyz2cam is None else torch.as_tensor(xyz2cam, dtype=torch.float32)
    )
    if m_xyz2cam.shape != (3, 3):
        raise ValueError(f"xyz2cam must be 3x3; got {tuple(m_xyz2cam.shape)}")
    red, blue = _uniform(g, 1.9, 2.4), _uniform(g, 1.5, 1.9)
    gains = (red, 1.0, blue) if wb_gains is None else tuple(float(v) for v in wb_gains)
    drawn_exposure = 1.0 / max(0.8 + 0.1 * float(torch.randn((), generator=g)), 0.5)
    if exposure_gain is None:
        exposure_gain = drawn_exposure if isp == "unprocessing" else 1.0
    exposure = float(exposure_gain)
    if min(gains) <= 0 or exposure <= 0:
        raise ValueError("wb_gains and exposure_gain must be positive")

    if isp == "unprocessing":
        x = 0.5 - torch.sin(torch.asin(1.0 - 2.0 * x) / 3.0)  # inverse smoothstep tone curve
        x = torch.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)  # inverse sRGB
    else:
        x = inverse_libraw_gamma(x)
    if low_pass if low_pass is not None else isp == "libraw":
        x = optical_low_pass(x)
    x = torch.einsum("ij,jhw->ihw", _rgb2cam(m_xyz2cam), x)
    x = x / (torch.tensor(gains).view(3, 1, 1) * exposure)
    m = cfa_mosaic(x.clamp(0.0, 1.0), cfa)

    shot = read = 0.0
    log_shot = _uniform(g, math.log(1e-4), math.log(1.2e-2))
    log_read = 2.18 * log_shot + 1.20 + 0.26 * float(torch.randn((), generator=g))
    if noise:
        shot, read = math.exp(log_shot), math.exp(log_read)
        sigma = torch.sqrt(read + shot * m)
        m = m + sigma * torch.randn(m.shape, generator=g)
    return SyntheticRaw(
        mosaic=m.clamp(0.0, 1.0).contiguous(),
        cfa=cfa,
        wb_gains=gains,
        exposure_gain=exposure,
        xyz2cam=m_xyz2cam,
        shot_noise=shot,
        read_noise=read,
    )


def synthesize_raw(
    srgb: torch.Tensor | np.ndarray,
    cfa: str = "RGGB",
    seed: int = 0,
    *,
    noise: bool = True,
    return_mosaic: bool = False,
    **kwargs,
) -> torch.Tensor | SyntheticRaw:
    """Packed synthetic RAW ``[4, H/2, W/2]`` (RGGB order) from ``srgb`` ``[3, H, W]``.

    For a non-RGGB ``cfa`` the packed image covers the CFA crop
    (:func:`compressai_isp.data.bayer.cfa_crop`): crop the target with the same box. With
    ``return_mosaic=True`` the full :class:`SyntheticRaw` (mosaic and parameters) is returned.
    Other keyword arguments go to :func:`synthesize_mosaic`.
    """
    result = synthesize_mosaic(srgb, cfa, seed, noise=noise, **kwargs)
    return result if return_mosaic else result.packed


def random_scene(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A seeded sRGB test scene ``[3, H, W]``: smooth gradients plus sharp-edged rectangles."""
    g = torch.Generator().manual_seed(int(seed))
    yy = torch.linspace(0, 1, height).view(1, height, 1)
    xx = torch.linspace(0, 1, width).view(1, 1, width)
    base = torch.rand(3, 1, 1, generator=g) * 0.5 + 0.2
    slope = (torch.rand(3, 2, 1, generator=g) - 0.5) * 0.4
    img = (base + slope[:, :1] * yy + slope[:, 1:] * xx).expand(3, height, width).clone()
    for _ in range(6):
        y0, x0 = (torch.rand(2, generator=g) * torch.tensor([height, width])).long().tolist()
        h, w = (
            (torch.rand(2, generator=g) * torch.tensor([height, width]) * 0.5 + 2).long().tolist()
        )
        img[:, y0 : y0 + h, x0 : x0 + w] = torch.rand(3, 1, 1, generator=g) * 0.9 + 0.05
    return img.clamp(0.0, 1.0)
