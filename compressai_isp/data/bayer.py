"""Bayer colour-filter-array (CFA) helpers: packing, unpacking, mosaicking and dihedral transforms.

Every camera's mosaic is packed into four channels in **RGGB order** (R, G1, G2, B), as in
RAWtoBit §4.1 (Jeong & Jung, 2022). G1 is the green on the red rows, G2 the green on the blue
rows. Sensors whose CFA does not start with red at the top-left (BGGR, GRBG, GBRG) are packed
after a *documented crop*: one row and/or one column is dropped at the top/left so that every
2×2 block of the packed image has the same spatial layout as an RGGB block (R top-left, B
bottom-right). The sRGB target is cropped identically (see :func:`cfa_crop`), so the packed
block ``(i, j)`` always covers target pixels ``[2i:2i+2, 2j:2j+2]`` whatever the camera.

All functions accept NumPy arrays or torch tensors and return the same kind.
"""

from __future__ import annotations

import functools
from typing import TypeVar

import numpy as np
import torch

__all__ = [
    "BAYER_PATTERNS",
    "normalize_cfa",
    "cfa_crop",
    "pack_bayer",
    "unpack_bayer",
    "mosaic",
    "dihedral",
    "DIHEDRAL_TRANSFORMS",
    "red_phase",
    "site_channels",
]

Array = TypeVar("Array", np.ndarray, torch.Tensor)

BAYER_PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")

# Offset (top, left) of the red site inside the 2x2 CFA period.
_RED_OFFSET = {"RGGB": (0, 0), "GRBG": (0, 1), "GBRG": (1, 0), "BGGR": (1, 1)}

# Number of dihedral transforms of the square (4 rotations x optional transpose).
DIHEDRAL_TRANSFORMS = 8


def normalize_cfa(cfa: str) -> str:
    """Return the canonical upper-case name of a 2×2 Bayer pattern, or raise ``ValueError``.

    The pattern is read row by row: ``"GRBG"`` means G R on the first row and B G on the second.
    """
    if not isinstance(cfa, str):
        raise ValueError(f"cfa must be one of {', '.join(BAYER_PATTERNS)}; got {cfa!r}")
    name = cfa.strip().upper()
    if name not in _RED_OFFSET:
        raise ValueError(f"cfa must be one of {', '.join(BAYER_PATTERNS)}; got {cfa!r}")
    return name


def cfa_crop(cfa: str, height: int, width: int) -> tuple[int, int, int, int]:
    """Crop ``(top, left, height, width)`` that makes a ``cfa`` mosaic start on a red site.

    The cropped height and width are the largest even sizes that fit, so the crop packs into
    ``[4, height // 2, width // 2]`` with no leftover pixels.
    """
    top, left = _RED_OFFSET[normalize_cfa(cfa)]
    h = (height - top) // 2 * 2
    w = (width - left) // 2 * 2
    if h <= 0 or w <= 0:
        raise ValueError(f"a {height}x{width} {cfa} mosaic is too small to hold one RGGB block")
    return top, left, h, w


def pack_bayer(mosaic: Array, cfa: str = "RGGB") -> Array:
    """Pack a Bayer mosaic ``[..., H, W]`` into ``[..., 4, h, w]`` channels R, G1, G2, B.

    The mosaic is first cropped by :func:`cfa_crop` so that packing starts on a red site; for
    an RGGB mosaic with even sides nothing is dropped and ``h, w = H // 2, W // 2``.
    """
    top, left, h, w = cfa_crop(cfa, mosaic.shape[-2], mosaic.shape[-1])
    m = mosaic[..., top : top + h, left : left + w]
    planes = [m[..., 0::2, 0::2], m[..., 0::2, 1::2], m[..., 1::2, 0::2], m[..., 1::2, 1::2]]
    if isinstance(m, torch.Tensor):
        return torch.stack(planes, dim=-3)
    return np.stack(planes, axis=-3)


def unpack_bayer(packed: Array, cfa: str = "RGGB") -> Array:
    """Inverse of :func:`pack_bayer`: ``[..., 4, h, w]`` RGGB channels back to a ``cfa`` mosaic.

    For RGGB the result is the ``[..., 2h, 2w]`` mosaic. For the other patterns the row/column
    that :func:`pack_bayer` dropped is restored at the top/left by mirroring the neighbouring
    row/column two pixels away, which has the same colour, so the result has the requested
    pattern and ``pack_bayer(unpack_bayer(p, cfa), cfa)`` returns ``p`` exactly.
    """
    if packed.shape[-3] != 4:
        raise ValueError(
            f"packed Bayer data must have 4 channels at dim -3; got {tuple(packed.shape)}"
        )
    top, left = _RED_OFFSET[normalize_cfa(cfa)]
    *lead, _, h, w = packed.shape
    if isinstance(packed, torch.Tensor):
        m = packed.new_empty((*lead, 2 * h, 2 * w))
    else:
        m = np.empty((*lead, 2 * h, 2 * w), dtype=packed.dtype)
    m[..., 0::2, 0::2] = packed[..., 0, :, :]
    m[..., 0::2, 1::2] = packed[..., 1, :, :]
    m[..., 1::2, 0::2] = packed[..., 2, :, :]
    m[..., 1::2, 1::2] = packed[..., 3, :, :]
    if top:
        m = _cat([m[..., 1:2, :], m], axis=-2)
    if left:
        m = _cat([m[..., :, 1:2], m], axis=-1)
    return m


def mosaic(rgb: Array, cfa: str = "RGGB") -> Array:
    """Sample a ``[..., 3, H, W]`` RGB image through a ``cfa`` filter array into ``[..., H, W]``."""
    if rgb.shape[-3] != 3:
        raise ValueError(f"mosaic() needs a 3-channel image at dim -3; got {tuple(rgb.shape)}")
    name = normalize_cfa(cfa)
    channel = {"R": 0, "G": 1, "B": 2}
    if isinstance(rgb, torch.Tensor):
        out = rgb.new_empty(rgb.shape[:-3] + rgb.shape[-2:])
    else:
        out = np.empty(rgb.shape[:-3] + rgb.shape[-2:], dtype=rgb.dtype)
    for k, letter in enumerate(name):
        dy, dx = divmod(k, 2)
        out[..., dy::2, dx::2] = rgb[..., channel[letter], dy::2, dx::2]
    return out


def dihedral(x: Array, transform: int) -> Array:
    """Apply one of the 8 dihedral transforms to the last two (spatial) dimensions of ``x``.

    ``transform`` in ``0..7``: bit 2 transposes, then ``transform % 4`` quarter-turns
    counter-clockwise. 0 is the identity.
    """
    if not 0 <= transform < DIHEDRAL_TRANSFORMS:
        raise ValueError(f"transform must be in 0..7; got {transform}")
    if transform & 4:
        x = x.transpose(-1, -2) if isinstance(x, torch.Tensor) else np.swapaxes(x, -1, -2)
    k = transform % 4
    if k:
        x = (
            torch.rot90(x, k, dims=(-2, -1))
            if isinstance(x, torch.Tensor)
            else np.rot90(x, k, axes=(-2, -1))
        )
    return x


def site_channels(cfa: str) -> tuple[int, int, int, int]:
    """Packed channel (0=R, 1=G1, 2=G2, 3=B) of each site of the 2×2 ``cfa`` period, row-major."""
    top, left = _RED_OFFSET[normalize_cfa(cfa)]
    return tuple(((dy - top) % 2) * 2 + (dx - left) % 2 for dy in (0, 1) for dx in (0, 1))


def _cat(parts: list, axis: int):
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(parts, dim=axis)
    return np.concatenate(parts, axis=axis)


@functools.cache
def red_phase(transform: int) -> tuple[int, int]:
    """Parity ``(dy, dx)`` a window of an RGGB mosaic must start at so that, after
    :func:`dihedral` ``transform``, its top-left pixel is a red site again.

    Flipping or rotating an RGGB mosaic turns it into another Bayer pattern (a horizontal flip
    gives GRBG); shifting the window by this phase before transforming keeps the result RGGB,
    which is how augmentation keeps the CFA order consistent between RAW and target.
    Window sides must be even.
    """
    labels = np.array([[0, 1], [2, 3]])  # R, G1, G2, B on an RGGB lattice
    tiled = np.tile(labels, (3, 3))
    for dy in (0, 1):
        for dx in (0, 1):
            window = tiled[dy : dy + 2, dx : dx + 2]
            if dihedral(window, transform)[0, 0] == 0:
                return dy, dx
    raise AssertionError("unreachable: every dihedral transform maps some site to the corner")
