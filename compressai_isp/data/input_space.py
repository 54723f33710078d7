"""Input spaces: what the packed RAW a model sees has been normalised for.

* ``"paper"`` (RAWtoBit §4.1): black/white-normalised packed RAW, in the camera's own colour
  space and white balance. The network must infer each photo's colour science from its pixels.
* ``"camera-normalised"``: the same, multiplied by the file's as-shot white-balance gains and
  mapped from camera RGB to linear sRGB with the matrix LibRaw itself renders it with. What is
  left to learn (demosaicing, tone, compression) no longer depends on the camera.

The colour metadata is :class:`CameraColour`, captured with every RAW read
(:attr:`compressai_isp.data.RawImage.colour`), and :func:`to_input_space` maps a packed RAW into
either space, so a model's input space can be part of its configuration.

**Which gains and matrix** (LibRaw's own choice for :data:`~compressai_isp.data.RENDER_RECIPE`,
``use_camera_wb=True``):

* gains: the as-shot multipliers when the file has them (red and blue non-zero), otherwise
  LibRaw's daylight multipliers (``pre_mul``); a missing second green takes the first's value,
  and all are divided by the smallest (LibRaw's normalisation with clipped highlights);
* matrix: rawpy's ``color_matrix`` where LibRaw fills it (DNG files: from their ColorMatrix /
  ForwardMatrix tags); otherwise derived from ``rgb_xyz_matrix`` (XYZ -> camera, LibRaw's table
  of Adobe coefficients) as LibRaw derives its ``rgb_cam``: camera-from-sRGB
  ``rgb_xyz · M_sRGB->XYZ`` with rows scaled to sum to one (white stays white), inverted;
* neither, but the file carries the camera -> sRGB matrix of TIFF tag 37400 (old Kodak KDC
  files: the DC50 and DC120, absent from LibRaw's table): that matrix, which LibRaw renders with
  although rawpy does not expose it (read from the header by
  :func:`~compressai_isp.data.metadata.kodak_camera_matrix`);
* none of these: the identity, as LibRaw renders such a file in camera colours.

The DC50 reports as-shot white balance 1, 1, 1, 1 (its files carry no white balance LibRaw
reads): its gains are 1 and only its tag-37400 matrix acts, as in LibRaw's render. The DC120
reports red and blue multipliers of 0: the gains fall back to the daylight ones rawpy reports
(1, 1, 1), whereas LibRaw balances its render of such a file from the image itself (its channel
means come out equal) and reports nothing of it; ``read_raw`` refuses the DC120 anyway
(non-square pixels).

**The transform on a mosaic.** A 3x3 matrix needs all three colours at a pixel, which a mosaic
does not have. Every site keeps its own measured colour and takes the other two from a bilinear
interpolation of its neighbours; the matrix maps that to linear sRGB, and the site keeps the
sRGB value of its own colour. The input stays a Bayer mosaic of the same shape (now with linear
sRGB primaries and white balance), exact on flat areas. Like LibRaw, values are clipped to
``[0, 1]`` after the gains and after the matrix. (Taking each 2x2 block as one colour sample
instead, a plain 4x4 map of the packed channels, was measured 0.5-7 dB further from LibRaw's
render: the cross-talk at edges is scaled by the matrix, strongly so for the Kodak DC50.)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import numpy as np
import torch

from compressai_isp.io.identity import UNRECORDED_INPUT_SPACE

from .classical_isp import bilinear_demosaic
from .synthetic import SRGB_TO_XYZ, SyntheticRaw

__all__ = [
    "INPUT_SPACES",
    "UNRECORDED_INPUT_SPACE",
    "LINEAR_SRGB_TO_XYZ",
    "CameraColour",
    "camera_normalise",
    "to_input_space",
]

#: The named input spaces (see the module docstring); ``"paper"`` is RAWtoBit's.
INPUT_SPACES = ("paper", "camera-normalised")
# UNRECORDED_INPUT_SPACE ("paper") is what a RAW model, weight file, checkpoint or stream that
# records no input space reads; it is a fact about files, so it lives with their record.

#: Linear sRGB (D65) -> CIE XYZ (IEC 61966-2-1, seven digits): the primaries LibRaw converts
#: camera colour to (its DNG matrices match this to 2e-8).
LINEAR_SRGB_TO_XYZ = SRGB_TO_XYZ.double().numpy()

# LibRaw uses a file's own camera matrix only when its first entry exceeds this.
_CAMERA_MATRIX_FLOOR = 0.125

Array = TypeVar("Array", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class CameraColour:
    """A RAW file's white-balance gains and camera -> linear-sRGB matrix, as LibRaw uses them.

    Attributes:
        wb_gains: per packed channel (R, G1, G2, B), the smallest 1.
        camera_to_srgb: 3x3, rows linear sRGB R, G, B, columns camera R, G, B; rows sum to 1.
        wb_source: ``"as-shot"``, ``"daylight"`` (LibRaw's fallback), ``"none"`` (all 1) or
            ``"synthetic"`` (:meth:`from_synthetic`).
        matrix_source: ``"color_matrix"``, ``"rgb_xyz_matrix"``, ``"kodak_tag_37400"`` or
            ``"none"`` (identity).
    """

    wb_gains: tuple[float, float, float, float]
    camera_to_srgb: tuple[tuple[float, float, float], ...]
    wb_source: str
    matrix_source: str

    @classmethod
    def identity(cls) -> CameraColour:
        """No gains and no matrix: the camera-normalised input equals the paper input."""
        return cls((1.0,) * 4, tuple(map(tuple, np.eye(3).tolist())), "none", "none")

    @classmethod
    def from_libraw(
        cls, raw: Any, colour_of_channel: np.ndarray, file_matrix: Any = None
    ) -> CameraColour:
        """What LibRaw renders ``raw`` (an open ``rawpy.RawPy``) with; ``colour_of_channel`` is
        the LibRaw colour index of each packed channel R, G1, G2, B, ``file_matrix`` the file's
        tag-37400 matrix if it has one."""
        gains, wb_source = _libraw_gains(raw)
        matrix, matrix_source = _libraw_matrix(raw, file_matrix)
        per_channel = gains[np.asarray(colour_of_channel)]
        return cls(
            wb_gains=tuple(float(g) for g in per_channel),
            camera_to_srgb=tuple(tuple(float(v) for v in row) for row in matrix),
            wb_source=wb_source,
            matrix_source=matrix_source,
        )

    @classmethod
    def from_synthetic(cls, syn: SyntheticRaw) -> CameraColour:
        """The gains and matrix that undo :func:`~compressai_isp.data.synthesize_mosaic`'s
        inverse white balance and colour correction (what LibRaw reads from its DNG); the
        exposure gain is not colour and stays."""
        gains = np.array([syn.wb_gains[0], syn.wb_gains[1], syn.wb_gains[1], syn.wb_gains[2]])
        camera_from_srgb = _camera_from_srgb(syn.xyz2cam.double().numpy())
        return cls(
            wb_gains=tuple(float(g) for g in gains / gains.min()),
            camera_to_srgb=tuple(map(tuple, np.linalg.inv(camera_from_srgb).tolist())),
            wb_source="synthetic",
            matrix_source="synthetic",
        )

    @classmethod
    def from_json(cls, data: dict) -> CameraColour:
        """Inverse of :meth:`to_json` (e.g. from a dataset cache entry)."""
        return cls(
            wb_gains=tuple(float(v) for v in data["wb_gains"]),
            camera_to_srgb=tuple(tuple(float(v) for v in row) for row in data["camera_to_srgb"]),
            wb_source=str(data["wb_source"]),
            matrix_source=str(data["matrix_source"]),
        )

    def to_json(self) -> dict:
        """A JSON-friendly dict (lists, floats, strings)."""
        data = asdict(self)
        data["wb_gains"] = list(self.wb_gains)
        data["camera_to_srgb"] = [list(row) for row in self.camera_to_srgb]
        return data


def _libraw_gains(raw: Any) -> tuple[np.ndarray, str]:
    """LibRaw's multipliers per colour index (4), normalised to a smallest of 1."""
    as_shot = np.asarray(raw.camera_whitebalance, dtype=np.float64)
    daylight = np.asarray(raw.daylight_whitebalance, dtype=np.float64)
    if as_shot[0] > 0 and as_shot[2] > 0:
        gains, source = as_shot, "as-shot"
    elif daylight[0] > 0 and daylight[2] > 0:
        gains, source = daylight, "daylight"
    else:
        return np.ones(4), "none"
    gains = gains.copy()
    if gains[1] <= 0:
        gains[1] = 1.0
    if gains[3] <= 0:  # one green given: the second is the same colour
        gains[3] = gains[1]
    return gains / gains.min(), source


def _libraw_matrix(raw: Any, file_matrix: Any) -> tuple[np.ndarray, str]:
    """LibRaw's camera -> linear sRGB matrix (3x3) and where it came from, in LibRaw's order of
    precedence: a DNG's own matrix, LibRaw's table, the Kodak tag, none."""
    embedded = np.asarray(raw.color_matrix, dtype=np.float64)
    if embedded.shape[0] >= 3 and embedded[0, 0] > _CAMERA_MATRIX_FLOOR:
        return embedded[:3, :3], "color_matrix"
    xyz_to_camera = np.asarray(raw.rgb_xyz_matrix, dtype=np.float64)[:3, :3]
    if not np.any(xyz_to_camera):
        if file_matrix is not None:
            return np.asarray(file_matrix, dtype=np.float64).reshape(3, 3), "kodak_tag_37400"
        return np.eye(3), "none"
    return np.linalg.inv(_camera_from_srgb(xyz_to_camera)), "rgb_xyz_matrix"


def _camera_from_srgb(xyz_to_camera: np.ndarray) -> np.ndarray:
    """Linear sRGB -> camera RGB with rows scaled to sum to one (white stays white)."""
    camera_from_srgb = xyz_to_camera @ LINEAR_SRGB_TO_XYZ
    return camera_from_srgb / camera_from_srgb.sum(axis=1, keepdims=True)


def camera_normalise(packed: Array, colour: CameraColour) -> Array:
    """Paper-space packed RAW ``[..., 4, h, w]`` in ``[0, 1]`` -> camera-normalised (see the
    module docstring), same type, dtype and shape."""
    if packed.shape[-3] != 4:
        raise ValueError(f"packed RAW must be [..., 4, h, w]; got {tuple(packed.shape)}")
    gains = np.asarray(colour.wb_gains, dtype=np.float64)
    if gains.shape != (4,) or not all(math.isfinite(g) and g > 0 for g in gains):
        raise ValueError(f"white-balance gains must be 4 positive numbers; got {colour.wb_gains}")
    matrix = np.asarray(colour.camera_to_srgb, dtype=np.float64)
    if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
        raise ValueError(f"camera_to_srgb must be a finite 3x3 matrix; got {matrix.tolist()}")
    x = torch.from_numpy(packed) if isinstance(packed, np.ndarray) else packed
    g = torch.as_tensor(gains, dtype=x.dtype, device=x.device).view(4, 1, 1)
    m = torch.as_tensor(matrix, dtype=x.dtype, device=x.device)
    rgb = bilinear_demosaic((x * g).clamp(0.0, 1.0))
    srgb = torch.einsum("ij,...jhw->...ihw", m, rgb).clamp_(0.0, 1.0)
    own = (srgb[..., 0, 0::2, 0::2], srgb[..., 1, 0::2, 1::2], srgb[..., 1, 1::2, 0::2])
    out = torch.stack([*own, srgb[..., 2, 1::2, 1::2]], dim=-3)
    return out.numpy() if isinstance(packed, np.ndarray) else out


def to_input_space(packed: Array, colour: CameraColour, space: str) -> Array:
    """``packed`` (paper space, as :func:`~compressai_isp.data.read_raw` gives it) in ``space``."""
    if space == "paper":
        return packed
    if space == "camera-normalised":
        return camera_normalise(packed, colour)
    raise ValueError(f"input space must be one of {', '.join(INPUT_SPACES)}; got {space!r}")
