"""Where a coded photo's pixels lie, and how a model's input is padded and its output cropped.

The one place the RAW codec derives geometry: :meth:`Geometry.of_raw` reads it off a
:class:`compressai_isp.data.RawImage` (crop, CFA, orientation), :class:`Frame` is the padding that
brings a model input to the model's ``downsampling_factor`` and the crop that undoes it, and
:data:`ORIENTATIONS` is the table of LibRaw's orientation codes that the container accepts,
``compressai-isp info`` names and :func:`orient` applies.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from compressai_isp.data.bayer import BAYER_PATTERNS
from compressai_isp.models import crop_to, pad_to_multiple

__all__ = [
    "MAX_SIDE",
    "ORIENTATIONS",
    "Frame",
    "Geometry",
    "orient",
    "orientation_name",
]

#: Largest accepted RAW side. Far above any sensor (a 150 MP back is 14204 x 10652) and it keeps
#: a hostile header from asking the decoder for an absurd amount of work.
MAX_SIDE = 65535

# LibRaw's ``sizes.flip`` codes (the only values it reports for Bayer cameras): the name and the
# quarter turns counter-clockwise that put the decoded image upright.
_ORIENTATION_TURNS: dict[int, tuple[str, int]] = {
    0: ("none", 0),
    3: ("rotate 180", 2),
    5: ("rotate 90 CCW", 1),
    6: ("rotate 90 CW", -1),
}
#: The orientation codes a stream may carry (LibRaw's ``flip``): 0, 3, 5 and 6.
ORIENTATIONS: tuple[int, ...] = tuple(_ORIENTATION_TURNS)


def orientation_name(flip: int) -> str:
    """``"none"``, ``"rotate 180"``, ``"rotate 90 CCW"`` or ``"rotate 90 CW"``."""
    return _ORIENTATION_TURNS[flip][0]


def orient(image: Tensor, flip: int) -> Tensor:
    """Apply LibRaw's ``flip`` code (0 none, 3 rotate 180, 5 rotate 90 CCW, 6 rotate 90 CW)."""
    turns = _ORIENTATION_TURNS[flip][1]
    return torch.rot90(image, turns, dims=(-2, -1)) if turns else image


@dataclass(frozen=True)
class Frame:
    """A model input of ``height x width`` pixels and the bottom / right replicate padding that
    makes its sides multiples of the model's ``downsampling_factor``."""

    height: int
    width: int
    pad_bottom: int = 0
    pad_right: int = 0

    @property
    def padded_size(self) -> tuple[int, int]:
        return self.height + self.pad_bottom, self.width + self.pad_right

    @classmethod
    def pad(cls, x: Tensor, multiple: int) -> tuple[Tensor, Frame]:
        """``x`` replicate-padded to ``multiple`` (:func:`~compressai_isp.models.pad_to_multiple`)
        and the frame that records it."""
        padded = pad_to_multiple(x, multiple)
        height, width = x.shape[-2:]
        return padded, cls(height, width, padded.shape[-2] - height, padded.shape[-1] - width)

    def crop(self, output: Tensor) -> Tensor:
        """The model's output for the padded input cropped to the true input's extent, at the
        output's own scale (an sRGB output of packed RAW is twice the input's size)."""
        scale = output.shape[-1] // self.padded_size[1]
        return crop_to(output, (self.height * scale, self.width * scale))


@dataclass(frozen=True)
class Geometry:
    """Where the coded pixels came from in the RAW file, and how to give them back.

    Attributes:
        raw_height, raw_width: size of the full sensor mosaic as stored in the RAW file.
        cfa: the file's Bayer pattern, read row by row (``"GRBG"``: G R / B G).
        crop_top, crop_left, crop_height, crop_width: the region of the mosaic that was coded.
            It starts on a red site (so non-RGGB sensors lose one row/column, see
            :func:`compressai_isp.data.bayer.cfa_crop`), excludes the sensor's masked margins,
            and has even sides; the decoded sRGB has exactly ``crop_height x crop_width`` pixels.
        pad_bottom, pad_right: replicate padding, in packed-RAW pixels, that brought the packed
            image ``[4, crop_height/2, crop_width/2]`` to a multiple of the model's
            ``downsampling_factor``; the decoder crops it away.
        orientation: LibRaw ``flip`` code applied after decoding (0, 3, 5 or 6).
    """

    raw_height: int
    raw_width: int
    cfa: str
    crop_top: int
    crop_left: int
    crop_height: int
    crop_width: int
    pad_bottom: int = 0
    pad_right: int = 0
    orientation: int = 0

    @classmethod
    def of_raw(cls, raw: Any) -> Geometry:
        """Where a :class:`compressai_isp.data.RawImage`'s packed pixels lie in its file (no
        padding yet: :meth:`with_frame` adds what the model needs). An orientation code the
        format does not know is dropped (the image is decoded as the sensor holds it)."""
        top, left, crop_h, crop_w = raw.crop
        return cls(
            raw_height=raw.raw_size[0],
            raw_width=raw.raw_size[1],
            cfa=raw.cfa,
            crop_top=top,
            crop_left=left,
            crop_height=crop_h,
            crop_width=crop_w,
            orientation=raw.orientation if raw.orientation in ORIENTATIONS else 0,
        )

    @property
    def frame(self) -> Frame:
        """The packed RAW the model coded: ``crop / 2`` and this geometry's padding."""
        return Frame(self.crop_height // 2, self.crop_width // 2, self.pad_bottom, self.pad_right)

    def with_frame(self, frame: Frame) -> Geometry:
        """This geometry with ``frame``'s padding (the packed crop must be ``frame``'s input)."""
        return dataclasses.replace(self, pad_bottom=frame.pad_bottom, pad_right=frame.pad_right)

    @property
    def packed_size(self) -> tuple[int, int]:
        """Packed-RAW size the model coded, padding included."""
        return self.frame.padded_size

    @property
    def num_pixels(self) -> int:
        """sRGB pixels of the decoded photo (``crop_height * crop_width``), what bpp counts."""
        return self.crop_height * self.crop_width

    @property
    def rotates(self) -> bool:
        """Whether orienting the decoded image swaps its height and width."""
        return _ORIENTATION_TURNS[self.orientation][1] % 2 == 1

    def check(self) -> None:
        """Raise ``ValueError`` (one line) when the fields contradict each other."""
        if self.cfa not in BAYER_PATTERNS:
            raise ValueError(f"CFA {self.cfa!r} is not a Bayer pattern")
        if not (0 < self.raw_height <= MAX_SIDE and 0 < self.raw_width <= MAX_SIDE):
            raise ValueError(f"raw size {self.raw_height}x{self.raw_width} is out of range")
        if (
            self.crop_height <= 0
            or self.crop_width <= 0
            or self.crop_height % 2
            or self.crop_width % 2
        ):
            raise ValueError(
                f"crop size {self.crop_height}x{self.crop_width} must be positive and even"
            )
        if (
            self.crop_top + self.crop_height > self.raw_height
            or self.crop_left + self.crop_width > self.raw_width
        ):
            raise ValueError(
                f"crop {self.crop_height}x{self.crop_width}+{self.crop_top}+{self.crop_left} "
                f"exceeds the {self.raw_height}x{self.raw_width} mosaic"
            )
        red_top, red_left = self.crop_top % 2, self.crop_left % 2
        if self.cfa[2 * red_top + red_left] != "R":
            raise ValueError(
                f"crop origin ({self.crop_top}, {self.crop_left}) is not a red site of {self.cfa}"
            )
        if self.orientation not in ORIENTATIONS:
            raise ValueError(f"orientation {self.orientation} is not one of {ORIENTATIONS}")
