"""Image-quality and rate metrics shared by training, evaluation, anchors and the codec.

Conventions (one place for every caller, so all curves in a plot are measured the same way):

* **Bits per pixel count sRGB output pixels.** RAWtoBit (Jeong & Jung 2022, §4.2) reports bpp
  "in terms of the resolution of the reconstructed sRGB image and not the four-channel packed RAW
  image". A packed RAW tensor ``[B, 4, H/2, W/2]`` therefore stands for ``B * H * W`` pixels, four
  times its own spatial size; :func:`srgb_num_pixels` does that conversion and everything that
  reports bpp goes through it. Dividing by the packed size would overstate bpp by 4x.
* **PSNR / MS-SSIM as reported by evaluation** follow ``compressai.utils.eval_model``: both images
  are clamped to ``[0, 1]``, scaled to 8 bits and rounded before measuring (the decoded image is an
  8-bit sRGB picture), PSNR with a peak of 255 and MS-SSIM with ``data_range=255``. That is
  :func:`compute_metrics`; :func:`psnr` and :func:`ms_ssim` do the same with ``quantize=True`` and
  measure the raw float values otherwise.
* **Batches are averaged per image**: the score of a batch is the mean of the per-image scores (the
  paper's "average PSNR over 73 test images"), not the PSNR of the pooled MSE.
* **MS-SSIM on small images.** The standard 5-scale MS-SSIM (Wang et al. 2003, weights
  ``0.0448, 0.2856, 0.3001, 0.2363, 0.1333``) needs the smaller side to exceed
  ``(win_size - 1) * 2**4 = 160`` pixels; ``pytorch_msssim`` asserts on anything smaller. Here an
  image that is too small uses the largest number of scales ``n`` that fits
  (``side > 10 * 2**(n - 1)``) with the first ``n`` weights renormalised to sum to 1; a single
  scale is plain SSIM. Images of at least 161 px get exactly ``pytorch_msssim.ms_ssim``. Images
  whose smaller side is below the 11-px Gaussian window raise ``ValueError``.
* **Colour accuracy, ΔE00.** :func:`delta_e00` is the mean CIEDE2000 colour difference (Sharma,
  Wu & Dalal 2005) over all pixels, computed by scikit-image: both sRGB images are converted to
  CIELAB (D65, 2° observer, ``skimage.color.rgb2lab``) and compared with
  ``skimage.color.deltaE_ciede2000`` (``kL = kC = kH = 1``). 0 means identical colours, about
  1 is a just-noticeable difference, black against white is 100. Lower is better.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_msssim import ms_ssim as _pm_ms_ssim
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim
from skimage.color import deltaE_ciede2000, rgb2lab

__all__ = [
    "MS_SSIM_WEIGHTS",
    "bpp_from_likelihoods",
    "bpp_from_strings",
    "compute_metrics",
    "delta_e00",
    "delta_e00_map",
    "delta_e00_per_image",
    "ms_ssim",
    "ms_ssim_per_image",
    "ms_ssim_scales",
    "psnr",
    "psnr_per_image",
    "quantize_8bit",
    "rate_bpp",
    "srgb_num_pixels",
    "total_bytes",
]

#: Wang, Simoncelli & Bovik (2003) scale weights, finest scale first (pytorch_msssim's default).
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_WIN_SIZE = 11
_WIN_SIGMA = 1.5


def _as_batch(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() == 3:
        return x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(
            f"{name}: expected an image [C,H,W] or a batch [B,C,H,W], got shape {tuple(x.shape)}"
        )
    return x


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    a, b = _as_batch(a, "a"), _as_batch(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: a is {tuple(a.shape)}, b is {tuple(b.shape)}")
    if a.numel() == 0:
        raise ValueError(f"empty images of shape {tuple(a.shape)}")
    return a, b


def quantize_8bit(x: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Clamp ``x`` to ``[0, data_range]`` and round it to the 256 levels of an 8-bit image.

    Returns values on the 0..255 scale (float dtype), as ``compressai.utils.eval_model`` does.
    """
    return (x.float() / data_range * 255.0).clamp(0.0, 255.0).round()


def psnr_per_image(
    a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0, *, quantize: bool = False
) -> torch.Tensor:
    """PSNR in dB of each image of a batch, ``[B]`` (``inf`` where the images are identical).

    ``quantize=True`` measures the 8-bit images (see :func:`quantize_8bit`) with a peak of 255.
    """
    a, b = _check_pair(a, b)
    if quantize:
        a, b, data_range = quantize_8bit(a, data_range), quantize_8bit(b, data_range), 255.0
    mse = (a.float() - b.float()).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(data_range**2 / mse)


def psnr(
    a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0, *, quantize: bool = False
) -> float:
    """PSNR in dB between two images (``[C,H,W]``) or the mean per-image PSNR of two batches.

    Identical images give ``inf``. ``quantize=True`` clamps and rounds both to 8 bits first, as
    ``compressai.utils.eval_model`` reports it.
    """
    return float(psnr_per_image(a, b, data_range, quantize=quantize).mean())


def ms_ssim_scales(height: int, width: int, win_size: int = _WIN_SIZE) -> int:
    """How many MS-SSIM scales (at most 5) an ``height x width`` image supports.

    Scale ``n`` is usable when the smaller side exceeds ``(win_size - 1) * 2**(n - 1)``: the image
    is halved ``n - 1`` times and must still hold a Gaussian window (the same rule as
    ``pytorch_msssim``, which fixes ``n = 5``).
    """
    side = min(height, width)
    if side < win_size:
        raise ValueError(
            f"MS-SSIM needs images of at least {win_size} px on the smaller side, "
            f"got {height}x{width}"
        )
    n = 1
    while n < len(MS_SSIM_WEIGHTS) and side > (win_size - 1) * 2**n:
        n += 1
    return n


def ms_ssim_per_image(
    a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0, *, quantize: bool = False
) -> torch.Tensor:
    """Differentiable MS-SSIM of each image of a batch, ``[B]`` (small images: see module doc).

    Usable as a training loss (``1 - ms_ssim_per_image(x_hat, x).mean()``).
    """
    a, b = _check_pair(a, b)
    if quantize:
        a, b, data_range = quantize_8bit(a, data_range), quantize_8bit(b, data_range), 255.0
    a, b = a.float(), b.float()
    levels = ms_ssim_scales(a.shape[-2], a.shape[-1])
    if levels == len(MS_SSIM_WEIGHTS):
        return _pm_ms_ssim(a, b, data_range=data_range, size_average=False)

    weights = a.new_tensor(MS_SSIM_WEIGHTS[:levels])
    weights = weights / weights.sum()
    win = _fspecial_gauss_1d(_WIN_SIZE, _WIN_SIGMA).repeat([a.shape[1], 1, 1, 1])
    factors = []
    for level in range(levels):
        ssim_c, cs_c = _ssim(a, b, data_range=data_range, win=win, size_average=False)
        if level < levels - 1:
            factors.append(torch.relu(cs_c))
            padding = [s % 2 for s in a.shape[2:]]
            a = F.avg_pool2d(a, kernel_size=2, padding=padding)
            b = F.avg_pool2d(b, kernel_size=2, padding=padding)
    factors.append(torch.relu(ssim_c))
    stacked = torch.stack(factors, dim=0)  # [levels, B, C]
    return torch.prod(stacked ** weights.view(-1, 1, 1), dim=0).mean(1)


def ms_ssim(
    a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0, *, quantize: bool = False
) -> float:
    """MS-SSIM in ``[0, 1]`` of two images, or the mean per-image MS-SSIM of two batches."""
    with torch.no_grad():
        return float(ms_ssim_per_image(a, b, data_range, quantize=quantize).mean())


def delta_e00_map(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> np.ndarray:
    """Per-pixel CIEDE2000 difference ``[B, H, W]`` (float32) of two sRGB images or batches.

    Values outside ``[0, data_range]`` are clamped first: CIELAB is defined for displayable
    sRGB only, and a decoder's overshoot is not shown either.
    """
    a, b = _check_pair(a, b)
    if a.shape[1] != 3:
        raise ValueError(f"ΔE00 needs 3-channel sRGB images, got shape {tuple(a.shape)}")

    def lab(x: torch.Tensor) -> np.ndarray:
        # float32 halves the memory of a 12-MP image; the mean is taken in float64 below.
        rgb = (x.detach().float() / data_range).clamp(0.0, 1.0).permute(0, 2, 3, 1)
        return rgb2lab(rgb.cpu().numpy(), channel_axis=-1)

    return deltaE_ciede2000(lab(a), lab(b), channel_axis=-1)


def delta_e00_per_image(
    a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0, *, quantize: bool = False
) -> torch.Tensor:
    """Mean CIEDE2000 difference of each image of a batch, ``[B]`` (float64; 0 when identical).

    ``quantize=True`` measures the 8-bit images (see :func:`quantize_8bit`).
    """
    a, b = _check_pair(a, b)
    if quantize:
        a, b, data_range = quantize_8bit(a, data_range), quantize_8bit(b, data_range), 255.0
    per_pixel = delta_e00_map(a, b, data_range)
    return torch.from_numpy(per_pixel.reshape(per_pixel.shape[0], -1).mean(1, dtype=np.float64))


def delta_e00(
    a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0, *, quantize: bool = False
) -> float:
    """Mean CIEDE2000 colour difference of two sRGB images, or its per-image mean over batches."""
    return float(delta_e00_per_image(a, b, data_range, quantize=quantize).mean())


def compute_metrics(original: torch.Tensor, reconstruction: torch.Tensor) -> dict[str, float]:
    """``{"psnr-rgb", "ms-ssim-rgb", "delta-e00"}`` as reported in result JSONs (8-bit, per image).

    The first two are CompressAI's keys; ``delta-e00`` is the mean CIEDE2000 colour difference
    (:func:`delta_e00`), lower is better.
    """
    return {
        "psnr-rgb": psnr(original, reconstruction, quantize=True),
        "ms-ssim-rgb": ms_ssim(original, reconstruction, quantize=True),
        "delta-e00": delta_e00(original, reconstruction, quantize=True),
    }


def srgb_num_pixels(x: torch.Tensor | Sequence[int], input_kind: str | None = None) -> int:
    """Number of sRGB output pixels ``B * H * W`` that a model input stands for.

    ``x`` is a tensor or its shape, ``[B,C,h,w]`` or ``[C,h,w]``. A packed RAW input (4 channels,
    ``input_kind="raw"``) has half the output's height and width, so it stands for ``4 * B * h * w``
    pixels; an sRGB (3 channels) or single-plane Bayer mosaic (1 channel) input for ``B * h * w``.
    ``input_kind`` (``"raw"`` or ``"srgb"``) makes the intent explicit and is checked against ``C``.
    """
    shape = tuple(int(s) for s in (x.shape if isinstance(x, torch.Tensor) else x))
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4:
        raise ValueError(f"srgb_num_pixels: expected a [B,C,H,W] or [C,H,W] shape, got {shape}")
    batch, channels, h, w = shape
    expected = {"raw": (4,), "srgb": (3, 1), None: (4, 3, 1)}
    if input_kind not in expected:
        raise ValueError(f"srgb_num_pixels: input_kind must be 'raw' or 'srgb', got {input_kind!r}")
    if channels not in expected[input_kind]:
        raise ValueError(
            f"srgb_num_pixels: a {input_kind or 'model'} input cannot have {channels} channels "
            f"(shape {shape}); packed RAW has 4, sRGB 3, a Bayer mosaic 1"
        )
    factor = 4 if channels == 4 else 1
    return batch * h * w * factor


def _likelihood_tensors(value: Any, key: str) -> Iterable[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _likelihood_tensors(item, key)
    else:
        raise TypeError(
            f"likelihoods[{key!r}]: expected a tensor or a list of tensors, "
            f"got {type(value).__name__}"
        )


def _check_num_pixels(num_pixels: int) -> None:
    if not isinstance(num_pixels, int) or isinstance(num_pixels, bool) or num_pixels <= 0:
        raise ValueError(
            f"num_pixels must be a positive int (sRGB pixels, see srgb_num_pixels), "
            f"got {num_pixels!r}"
        )


def rate_bpp(likelihoods: Mapping[str, Any], num_pixels: int) -> torch.Tensor:
    """Differentiable estimated rate ``sum(-log2 p) / num_pixels`` (a 0-dim tensor), for losses.

    ``num_pixels`` is the total number of sRGB pixels of the batch (:func:`srgb_num_pixels`).
    """
    _check_num_pixels(num_pixels)
    if not isinstance(likelihoods, Mapping) or not likelihoods:
        raise ValueError(
            "likelihoods must be a non-empty dict of tensors (a model's out['likelihoods'])"
        )
    total = None
    for key, value in likelihoods.items():
        for t in _likelihood_tensors(value, key):
            bits = torch.log(t).sum() / -math.log(2.0)
            total = bits if total is None else total + bits
    return total / num_pixels


def bpp_from_likelihoods(likelihoods: Mapping[str, Any], num_pixels: int) -> float:
    """Estimated bits per sRGB pixel from a model's ``out["likelihoods"]`` (entropy estimation)."""
    with torch.no_grad():
        return float(rate_bpp(likelihoods, num_pixels))


def total_bytes(strings: Any) -> int:
    """Total length in bytes of nested lists of byte strings (``model.compress(x)["strings"]``)."""
    if isinstance(strings, (bytes, bytearray, memoryview)):
        return len(strings)
    if isinstance(strings, (list, tuple)):
        return sum(total_bytes(s) for s in strings)
    raise TypeError(
        f"strings: expected bytes or nested lists of bytes, got {type(strings).__name__}"
    )


def bpp_from_strings(strings: Any, num_pixels: int) -> float:
    """Actual bits per sRGB pixel of coded streams: ``8 * total_bytes(strings) / num_pixels``.

    Counts every stream of every batch item, so ``num_pixels`` must cover the whole batch.
    """
    _check_num_pixels(num_pixels)
    return 8.0 * total_bytes(strings) / num_pixels
