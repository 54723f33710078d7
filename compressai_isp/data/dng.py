"""A minimal DNG writer: a Bayer mosaic of any CFA and size as a real RAW file LibRaw opens.

Tests, examples and the evaluation code use it to make RAW *files* (not just tensors) without
shipping camera data: :func:`write_dng` stores an uncompressed 16-bit CFA image with its black
and white levels, colour matrix and as-shot white balance, and :func:`make_synthetic_dng`
builds one from an sRGB image (or a seeded random scene) through
:func:`compressai_isp.data.synthetic.synthesize_mosaic`.

The file is a little-endian TIFF with one IFD (DNG 1.4 tags, backward version 1.1); the tags
follow the Adobe DNG specification. ``rawpy.imread`` reads back the exact mosaic, CFA, per-channel
black level and white level.
"""

from __future__ import annotations

import os
import struct
import tempfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from compressai_isp.io.atomic import atomic_open

from .bayer import normalize_cfa, site_channels
from .raw import render_srgb
from .synthetic import SyntheticRaw, _as_tensor, random_scene, synthesize_mosaic

__all__ = [
    "write_dng",
    "write_synthetic_dng",
    "make_synthetic_dng",
    "libraw_render",
    "XYZ_TO_LINEAR_SRGB",
]

# CIE XYZ (D65) -> linear sRGB (IEC 61966-2-1). As a DNG ColorMatrix1 it declares a "camera"
# whose native primaries are the sRGB ones, so LibRaw's colour conversion is the identity.
XYZ_TO_LINEAR_SRGB = np.array(
    [
        [3.2404542, -1.5371385, -0.4985314],
        [-0.9692660, 1.8760108, 0.0415560],
        [0.0556434, -0.2040259, 1.0572252],
    ]
)

_BYTE, _ASCII, _SHORT, _LONG, _RATIONAL, _SRATIONAL = 1, 2, 3, 4, 5, 10
_TYPE_FORMAT = {_BYTE: "B", _ASCII: "B", _SHORT: "H", _LONG: "I", _RATIONAL: "II", _SRATIONAL: "ii"}
_TYPE_SIZE = {_BYTE: 1, _ASCII: 1, _SHORT: 2, _LONG: 4, _RATIONAL: 8, _SRATIONAL: 8}
_CFA_COLOUR = {"R": 0, "G": 1, "B": 2}
_D65 = 21
#: LibRaw (like dcraw) treats images with a side under 22 pixels as "not RAW".
MIN_SIDE = 22


def _rational(value: float, signed: bool) -> tuple[int, int]:
    frac = Fraction(float(value)).limit_denominator(1_000_000)
    num, den = frac.numerator, frac.denominator
    limit = 2**31 - 1 if signed else 2**32 - 1
    while abs(num) > limit or den > 2**32 - 1:
        num, den = num // 2, max(den // 2, 1)
    return num, den


def _entry(tag: int, typ: int, values: Sequence) -> tuple[int, int, int, bytes]:
    if typ in (_RATIONAL, _SRATIONAL):
        flat = [v for x in values for v in _rational(x, typ == _SRATIONAL)]
        count = len(values)
    else:
        flat = list(values)
        count = len(flat)
    payload = struct.pack("<" + _TYPE_FORMAT[typ][-1] * len(flat), *flat)
    return tag, typ, count, payload


def _ascii(tag: int, text: str) -> tuple[int, int, int, bytes]:
    return _entry(tag, _ASCII, list(text.encode("ascii", "replace")) + [0])


def write_dng(
    path: str | os.PathLike[str],
    mosaic: np.ndarray | torch.Tensor,
    cfa: str = "RGGB",
    black_level: float | Sequence[float] = 0,
    white_level: int = 65535,
    *,
    color_matrix: np.ndarray | Sequence[Sequence[float]] | None = None,
    as_shot_neutral: Sequence[float] = (1.0, 1.0, 1.0),
    make: str = "compressai-isp",
    model: str = "Synthetic Bayer",
) -> Path:
    """Write a ``uint16`` Bayer ``mosaic`` ``[H, W]`` as an uncompressed DNG file, atomically.

    Args:
        path: output file (``.dng``); written via a temp file and ``os.replace``.
        mosaic: 2-D array of raw sensor values, ``0 <= v <= white_level``.
        cfa: the mosaic's 2×2 pattern, ``"RGGB"``, ``"BGGR"``, ``"GRBG"`` or ``"GBRG"``.
        black_level: one value, or four in packed channel order (R, G1, G2, B) — the library's
            order, whatever the CFA; they are stored per CFA site (``BlackLevelRepeatDim`` 2×2).
        white_level: saturation value (``WhiteLevel``).
        color_matrix: 3×3 XYZ(D65) -> camera matrix (``ColorMatrix1``); defaults to
            :data:`XYZ_TO_LINEAR_SRGB`, i.e. camera RGB = linear sRGB.
        as_shot_neutral: camera-space RGB of a neutral (white) object, ``1 / white-balance gains``.
        make, model: camera identification (``Make``, ``Model``, ``UniqueCameraModel``).

    Returns:
        ``Path(path)``.
    """
    path = Path(path)
    cfa = normalize_cfa(cfa)
    data = mosaic.detach().cpu().numpy() if isinstance(mosaic, torch.Tensor) else np.asarray(mosaic)
    if data.ndim != 2 or min(data.shape) < MIN_SIDE:
        raise ValueError(
            f"write_dng({path}): mosaic must be 2-D [H, W] with H, W >= {MIN_SIDE} "
            f"(LibRaw refuses smaller images); got {data.shape}"
        )
    if not np.issubdtype(data.dtype, np.integer):
        raise ValueError(
            f"write_dng({path}): mosaic must hold integer raw values; got {data.dtype}"
        )
    if not 1 <= int(white_level) <= 65535:
        raise ValueError(f"write_dng({path}): white_level must be in 1..65535; got {white_level}")
    if data.size and (data.min() < 0 or data.max() > white_level):
        raise ValueError(
            f"write_dng({path}): mosaic values span {data.min()}..{data.max()}, "
            f"outside 0..white_level={white_level}"
        )
    blacks = (
        [float(black_level)] * 4 if np.isscalar(black_level) else [float(b) for b in black_level]
    )
    if len(blacks) != 4 or any(not 0 <= b < white_level for b in blacks):
        raise ValueError(
            f"write_dng({path}): black_level must be one value or four (R, G1, G2, B) in "
            f"0..white_level; got {black_level}"
        )
    site_black = [blacks[c] for c in site_channels(cfa)]
    matrix = XYZ_TO_LINEAR_SRGB if color_matrix is None else np.asarray(color_matrix, dtype=float)
    if matrix.shape != (3, 3):
        raise ValueError(f"write_dng({path}): color_matrix must be 3x3; got {matrix.shape}")
    neutral = [float(v) for v in as_shot_neutral]
    if len(neutral) != 3 or min(neutral) <= 0:
        raise ValueError(f"write_dng({path}): as_shot_neutral must be 3 positive values")

    cfa_tags = [
        _entry(33421, _SHORT, [2, 2]),
        _entry(33422, _BYTE, [_CFA_COLOUR[c] for c in cfa]),
        _entry(50710, _BYTE, [0, 1, 2]),
        _entry(50711, _SHORT, [1]),
        _entry(50713, _SHORT, [2, 2]),
        _entry(50714, _RATIONAL, site_black),
    ]
    return _write_raw_ifd(path, data, cfa_tags, white_level, matrix, neutral, make, model)


def _write_raw_ifd(
    path: Path,
    data: np.ndarray,
    colour_tags: list,
    white_level: int,
    matrix: np.ndarray,
    neutral: Sequence[float],
    make: str,
    model: str,
) -> Path:
    """Write one-IFD DNG: ``data`` ``[H, W]`` as a CFA image (``colour_tags`` describe the
    pattern and black levels) or ``[H, W, 3]`` as a LinearRaw (demosaiced) image."""
    height, width = data.shape[:2]
    samples = 1 if data.ndim == 2 else data.shape[2]
    pixels = np.ascontiguousarray(data, dtype="<u2").tobytes()
    entries = [
        _entry(254, _LONG, [0]),
        _entry(256, _LONG, [width]),
        _entry(257, _LONG, [height]),
        _entry(258, _SHORT, [16] * samples),
        _entry(259, _SHORT, [1]),
        _entry(262, _SHORT, [32803 if samples == 1 else 34892]),  # CFA or LinearRaw
        _ascii(271, make),
        _ascii(272, model),
        _entry(273, _LONG, [0]),  # StripOffsets, patched below
        _entry(274, _SHORT, [1]),
        _entry(277, _SHORT, [samples]),
        _entry(278, _LONG, [height]),
        _entry(279, _LONG, [len(pixels)]),
        _entry(284, _SHORT, [1]),
        _ascii(305, "compressai-isp"),
        _entry(50706, _BYTE, [1, 4, 0, 0]),
        _entry(50707, _BYTE, [1, 1, 0, 0]),
        _ascii(50708, f"{make} {model}"),
        _entry(50717, _LONG, [int(white_level)]),
        _entry(50721, _SRATIONAL, matrix.reshape(-1).tolist()),
        _entry(50728, _RATIONAL, list(neutral)),
        _entry(50778, _SHORT, [_D65]),
        *colour_tags,
    ]
    entries.sort(key=lambda e: e[0])  # TIFF requires ascending tag order

    header_size = 8
    ifd_size = 2 + 12 * len(entries) + 4
    blob_offset = header_size + ifd_size
    blobs = bytearray()
    ifd = bytearray(struct.pack("<H", len(entries)))
    strip_value_pos = None
    for tag, typ, count, payload in entries:
        if tag == 273:
            strip_value_pos = len(ifd) + 8
        if len(payload) <= 4:
            value = payload.ljust(4, b"\0")
        else:
            if (blob_offset + len(blobs)) % 2:
                blobs += b"\0"  # TIFF values start on word boundaries
            value = struct.pack("<I", blob_offset + len(blobs))
            blobs += payload
        ifd += struct.pack("<HHI", tag, typ, count) + value
    ifd += struct.pack("<I", 0)  # no next IFD
    pixel_offset = blob_offset + len(blobs)
    pixel_offset += pixel_offset % 2
    ifd[strip_value_pos : strip_value_pos + 4] = struct.pack("<I", pixel_offset)
    if pixel_offset + len(pixels) >= 2**32:
        raise ValueError(
            f"write_dng({path}): {height}x{width} is too large for a single-strip TIFF"
        )

    with atomic_open(path) as f:
        f.write(b"II*\0" + struct.pack("<I", header_size))
        f.write(ifd)
        f.write(blobs)
        f.write(b"\0" * (pixel_offset - blob_offset - len(blobs)))
        f.write(pixels)
    return path


def make_synthetic_dng(
    path: str | os.PathLike[str],
    srgb_or_seed: torch.Tensor | np.ndarray | int = 0,
    cfa: str = "RGGB",
    size: tuple[int, int] = (64, 96),
    *,
    black_level: float | Sequence[float] = 64,
    white_level: int = 4095,
    noise: bool = True,
    seed: int = 0,
    make: str = "compressai-isp",
    model: str = "Synthetic Bayer",
) -> Path:
    """Write a synthetic Bayer DNG for fixtures and examples, returning its path.

    ``srgb_or_seed``: an sRGB image ``[3, H, W]`` to unprocess (``size`` is then ignored), or an
    int seeding :func:`random_scene` of ``size`` ``(H, W)``. The file carries the synthetic
    camera's colour matrix and as-shot white balance, so LibRaw renders it back close to the
    scene. ``black_level`` is one value or four (R, G1, G2, B); values are quantised to
    ``white_level``.
    """
    if isinstance(srgb_or_seed, (int, np.integer)):
        srgb = random_scene(size[0], size[1], seed=int(srgb_or_seed))
        seed = int(srgb_or_seed) if seed == 0 else seed
    else:
        srgb = _as_tensor(srgb_or_seed)
    syn = synthesize_mosaic(srgb, cfa, seed, noise=noise)
    blacks = torch.tensor(
        [float(black_level)] * 4 if np.isscalar(black_level) else list(black_level)
    )
    site_black = blacks[list(site_channels(cfa))].view(2, 2)
    h, w = syn.mosaic.shape
    black_map = site_black.repeat((h + 1) // 2, (w + 1) // 2)[:h, :w]
    values = torch.round(syn.mosaic * (white_level - black_map) + black_map)
    return write_dng(
        path,
        values.to(torch.int32).numpy().astype(np.uint16),
        cfa,
        black_level=blacks.tolist(),
        white_level=white_level,
        color_matrix=syn.xyz2cam.numpy(),
        as_shot_neutral=[1.0 / v for v in syn.wb_gains],
        make=make,
        model=model,
    )


def write_synthetic_dng(syn: SyntheticRaw, path: str | os.PathLike[str]) -> Path:
    """Write ``syn``'s mosaic as a 16-bit DNG with its colour matrix and as-shot white balance,
    returning its path: a RAW file that LibRaw and :func:`~compressai_isp.data.read_raw` take
    as they take a camera's (so a synthetic test set is evaluated like real photos)."""
    values = torch.round(syn.mosaic.clamp(0.0, 1.0) * 65535).to(torch.int32).numpy()
    return write_dng(
        path,
        values.astype(np.uint16),
        syn.cfa,
        color_matrix=syn.xyz2cam.numpy(),
        as_shot_neutral=[1.0 / v for v in syn.wb_gains],
    )


def libraw_render(syn: SyntheticRaw, bits: int = 8) -> torch.Tensor:
    """LibRaw's render (:data:`~compressai_isp.data.RENDER_RECIPE`) of ``syn``'s mosaic written
    by :func:`write_synthetic_dng`: float32 ``[3, H, W]`` (the CFA crop) in ``[0, 1]``, on a
    ``bits`` grid.

    This is the target that puts a synthetic RAW on the same ISP as a real camera's: the one
    that renders every real RAW file of a training set.
    """
    with tempfile.TemporaryDirectory(prefix="compressai-isp-") as folder:
        return render_srgb(write_synthetic_dng(syn, Path(folder) / "synthetic.dng"), bits)
