"""Reading camera RAW files (rawpy / LibRaw) into packed RGGB tensors and LibRaw sRGB targets.

**Packing** (RAWtoBit §4.1): the visible sensor area is normalised per CFA channel,
``(v - black_c) / (white - black_c)`` clipped to ``[0, 1]``, cropped by
:func:`compressai_isp.data.bayer.cfa_crop` so that it starts on a red site and has even sides,
and packed 2×2 into four channels R, G1, G2, B.

**Ground truth** (the paper renders it "using the LibRaw library"): one fixed recipe,
:data:`RENDER_RECIPE` — AHD demosaicing, the camera's as-shot white balance, no automatic
brightening, the file's nominal white level (no per-image adjustment), LibRaw's default BT.709
gamma (2.222, 4.5), sRGB primaries, highlights clipped, no orientation flip, full resolution —
so geometry matches the sensor. The rendered image is cropped
exactly like the RAW, so ``srgb[:, 2i:2i+2, 2j:2j+2]`` is the image of packed pixel ``(i, j)``.

Refused with :class:`RawReadError` (the message names the file): non-Bayer sensors (X-Trans,
Foveon, linear/demosaiced DNG, CMYG), non-square pixels (LibRaw stretches them, e.g. the Kodak
DC120), and any file LibRaw renders at a size other than its visible sensor area (rotated or
Fuji SuperCCD layouts).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rawpy
import torch

from compressai_isp.errors import InputError

from ._stderr import CapturedStderr, capture_stderr_fd
from .bayer import cfa_crop, pack_bayer
from .cache import Entry
from .input_space import CameraColour, to_input_space
from .metadata import camera_make_model, kodak_camera_matrix

__all__ = [
    "RawReadError",
    "RawImage",
    "RENDER_RECIPE",
    "RECIPE_VERSION",
    "read_raw",
    "render_srgb",
    "load_pair",
    "normalize_packed",
]

#: Keyword arguments of ``rawpy.RawPy.postprocess`` used for every ground-truth rendering.
RENDER_RECIPE: dict = {
    "demosaic_algorithm": rawpy.DemosaicAlgorithm.AHD,
    "use_camera_wb": True,
    "use_auto_wb": False,
    "no_auto_bright": True,
    "bright": 1.0,
    "gamma": (2.222, 4.5),
    "output_color": rawpy.ColorSpace.sRGB,
    "highlight_mode": rawpy.HighlightMode.Clip,
    "user_flip": 0,
    "half_size": False,
    "four_color_rgb": False,
    "fbdd_noise_reduction": rawpy.FBDDNoiseReductionMode.Off,
    "median_filter_passes": 0,
    # LibRaw otherwise lowers the white level to the image's own maximum when that exceeds 75 %
    # of it: an image-dependent brightening that would also break the match with read_raw.
    "adjust_maximum_thr": 0.0,
}
#: Bumped whenever :data:`RENDER_RECIPE` or the packing changes; part of every cache key.
RECIPE_VERSION = "libraw-ahd-camwb-bt709-srgb-fixedwhite-v2"  # v2: entries carry colour


class RawReadError(InputError, ValueError):
    """A RAW (or target image) file is missing, unreadable, unsupported or too small."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class RawImage:
    """A decoded RAW file.

    Attributes:
        packed: float32 ``[4, h, w]``, channels R, G1, G2, B, normalised to ``[0, 1]``.
        cfa: the sensor's own pattern over its visible area, e.g. ``"GRBG"``.
        crop: ``(top, left, height, width)`` of the packed region in visible-sensor pixels;
            ``height == 2 * h`` and ``width == 2 * w``.
        raw_size: ``(H, W)`` of the visible sensor area (what LibRaw renders).
        make, model: camera identification from the file header (``""`` when unknown).
        black_level, white_level: per packed channel (R, G1, G2, B), in raw sensor units.
        camera_wb: as-shot white-balance multipliers (R, G1, G2, B), as LibRaw reports them.
        colour: the gains and camera -> linear-sRGB matrix LibRaw renders the file with
            (:class:`~compressai_isp.data.input_space.CameraColour`); see :meth:`input`.
        orientation: LibRaw's flip code (EXIF orientation); *not* applied to the data.
        path: the file.
    """

    packed: torch.Tensor
    cfa: str
    crop: tuple[int, int, int, int]
    raw_size: tuple[int, int]
    make: str
    model: str
    black_level: tuple[float, float, float, float]
    white_level: tuple[float, float, float, float]
    camera_wb: tuple[float, float, float, float]
    colour: CameraColour
    orientation: int
    path: Path

    def input(self, space: str) -> torch.Tensor:
        """:attr:`packed` in the input space ``space`` (``"paper"``: :attr:`packed` itself, or
        ``"camera-normalised"``; see :mod:`compressai_isp.data.input_space`)."""
        return to_input_space(self.packed, self.colour, space)


def normalize_packed(packed: np.ndarray, black: np.ndarray, white: np.ndarray) -> torch.Tensor:
    """Raw sensor values ``[4, h, w]`` -> float32 ``[0, 1]`` with per-channel black/white levels."""
    return torch.from_numpy(normalize_packed_np(packed, black, white))


def normalize_packed_np(packed: np.ndarray, black: np.ndarray, white: np.ndarray) -> np.ndarray:
    """NumPy version of :func:`normalize_packed` (the dataset hot path stays out of torch)."""
    black = np.asarray(black, dtype=np.float32).reshape(4, 1, 1)
    scale = 1.0 / (np.asarray(white, dtype=np.float32).reshape(4, 1, 1) - black)
    out = (packed.astype(np.float32) - black) * scale
    np.clip(out, 0.0, 1.0, out=out)
    return out


def _check_file(path: Path) -> None:
    if not path.exists():
        raise RawReadError(path, "no such file")
    if not path.is_file():
        raise RawReadError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise RawReadError(path, "file is empty")


def _imread(path: Path) -> rawpy.RawPy:
    _check_file(path)
    try:
        raw = rawpy.imread(str(path))
    except rawpy.LibRawFileUnsupportedError:
        raise RawReadError(path, "not a RAW format LibRaw can read") from None
    except (rawpy.LibRawError, rawpy.NotSupportedError, OSError) as e:
        raise RawReadError(path, f"LibRaw cannot open it ({_libraw_message(e)})") from None
    try:
        raw.unpack()  # decode the sensor data now, so truncation is reported here
    except (rawpy.LibRawError, rawpy.NotSupportedError, OSError) as e:
        raw.close()
        raise RawReadError(
            path,
            f"LibRaw cannot decode the sensor data, truncated or corrupt? ({_libraw_message(e)})",
        ) from None
    return raw


def _libraw_message(e: Exception) -> str:
    text = e.args[0] if e.args else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _bayer_cfa(raw: rawpy.RawPy, path: Path) -> tuple[str, np.ndarray]:
    """The visible area's 2×2 pattern name and the LibRaw colour index of each of its sites."""
    if raw.raw_type != rawpy.RawType.Flat:
        raise RawReadError(
            path,
            "not a Bayer mosaic (LibRaw reports a multi-channel image: linear/demosaiced DNG, "
            "Foveon or sRAW); only Bayer RGGB/BGGR/GRBG/GBRG sensors are supported",
        )
    pattern = raw.raw_pattern
    if pattern is None:
        raise RawReadError(path, "no colour filter array (monochrome sensor); not supported")
    if pattern.shape != (2, 2):
        raise RawReadError(
            path,
            f"LibRaw reports a {pattern.shape[0]}x{pattern.shape[1]} colour-filter pattern "
            "(e.g. Fujifilm X-Trans); only 2x2 Bayer sensors are supported",
        )
    colours = raw.raw_colors_visible
    sites = colours[:2, :2].copy()
    for dy in (0, 1):
        for dx in (0, 1):
            if not np.all(colours[dy::2, dx::2] == sites[dy, dx]):
                raise RawReadError(path, "colour-filter pattern is not 2x2-periodic (not Bayer)")
    desc = raw.color_desc.decode("ascii", "replace")
    name = "".join(desc[c] if c < len(desc) else "?" for c in sites.reshape(-1))
    if sorted(name) != ["B", "G", "G", "R"]:
        raise RawReadError(
            path, f"colour filters {name!r} (from {desc!r}) are not an RGB Bayer pattern"
        )
    return name, sites


def _check_geometry(raw: rawpy.RawPy, path: Path) -> None:
    s = raw.sizes
    if abs(s.pixel_aspect - 1.0) > 1e-6:
        raise RawReadError(
            path,
            f"non-square sensor pixels (aspect {s.pixel_aspect:.4f}): LibRaw resamples the "
            "image, so a pixel-aligned RAW/sRGB pair cannot be made; not supported",
        )
    if (s.iheight, s.iwidth) != (s.height, s.width):
        raise RawReadError(
            path,
            f"LibRaw processes it at {s.iheight}x{s.iwidth}, not its visible {s.height}x{s.width}",
        )


def _decode(path: str | os.PathLike[str], render_bits: int | None) -> Entry:
    """Decode ``path``, with LibRaw's own stderr reports folded into the one-line error."""
    path = Path(path)
    if render_bits not in (None, 8, 16):
        raise ValueError(f"bits must be 8 or 16; got {render_bits}")
    printed = None
    try:
        with capture_stderr_fd() as printed:
            try:
                entry, failure = _decode_file(path, render_bits), None
            except RawReadError as err:
                entry, failure = None, err
    except BaseException:
        if printed is not None:
            printed.release(printed.text.splitlines())
        raise
    reports = _libraw_reports(printed, path)
    if failure is not None:
        if reports:
            raise RawReadError(path, f"{failure.reason} [LibRaw: {reports}]") from None
        raise failure
    if reports:  # LibRaw carried on past damaged data: what it returned is not the photo
        raise RawReadError(
            path, f"LibRaw reports damaged sensor data, truncated or corrupt? [LibRaw: {reports}]"
        )
    return entry


def _libraw_reports(printed: CapturedStderr, path: Path) -> str:
    """LibRaw's ``<file>: <problem>`` lines as one ``; ``-joined string; other lines go back."""
    prefix = f"{path}: "
    lines = [line for line in printed.text.splitlines() if line.strip()]
    ours = [line[len(prefix) :].strip() for line in lines if line.startswith(prefix)]
    printed.release([line for line in lines if not line.startswith(prefix)])
    return "; ".join(dict.fromkeys(ours))


def _decode_file(path: Path, render_bits: int | None) -> Entry:
    with _imread(path) as raw:
        cfa, sites = _bayer_cfa(raw, path)
        _check_geometry(raw, path)
        try:
            visible = raw.raw_image_visible
        except (rawpy.LibRawError, ValueError) as e:
            raise RawReadError(path, f"LibRaw cannot decode the sensor data ({e})") from None
        height, width = visible.shape
        try:
            top, left, h, w = cfa_crop(cfa, height, width)
        except ValueError:
            raise RawReadError(path, f"image {height}x{width} is too small to pack") from None
        packed = pack_bayer(visible, cfa).astype(np.uint16, copy=True)

        # LibRaw indexes levels by colour index; map each packed channel to its site's index.
        per_colour_black = np.asarray(raw.black_level_per_channel, dtype=np.float32)
        colour_of_channel = pack_bayer(np.tile(sites, (2, 2)), cfa)[:, 0, 0]
        black = per_colour_black[colour_of_channel]
        white = np.full(4, float(raw.white_level), dtype=np.float32)
        if np.any(white <= black):
            raise RawReadError(
                path, f"white level {raw.white_level} is not above black {black.tolist()}"
            )
        wb = np.asarray(raw.camera_whitebalance, dtype=np.float64)
        if wb[3] == 0:  # LibRaw leaves the second green at 0 when the file gives one green
            wb[3] = wb[1]
        make, model = camera_make_model(path)
        info = {
            "cfa": cfa,
            "crop": [top, left, h, w],
            "raw_size": [height, width],
            "make": make,
            "model": model,
            "camera_wb": wb[colour_of_channel].tolist(),
            "colour": CameraColour.from_libraw(
                raw, colour_of_channel, kodak_camera_matrix(path)
            ).to_json(),
            "orientation": int(raw.sizes.flip),
        }
        srgb = None
        if render_bits is not None:
            try:
                rgb = raw.postprocess(output_bps=render_bits, **RENDER_RECIPE)
            except (rawpy.LibRawError, ValueError) as e:
                raise RawReadError(path, f"LibRaw cannot render it ({e})") from None
            if rgb.shape[:2] != (height, width):
                raise RawReadError(
                    path,
                    f"LibRaw renders it at {rgb.shape[0]}x{rgb.shape[1]} but the visible sensor "
                    f"area is {height}x{width} (rotated/resampled layout); "
                    "cannot align RAW and sRGB",
                )
            srgb = np.ascontiguousarray(rgb[top : top + h, left : left + w].transpose(2, 0, 1))
    return Entry(packed=packed, black=black, white=white, srgb=srgb, info=info)


def _to_raw_image(d: Entry, path: Path) -> RawImage:
    i = d.info
    return RawImage(
        packed=normalize_packed(d.packed, d.black, d.white),
        cfa=i["cfa"],
        crop=tuple(i["crop"]),
        raw_size=tuple(i["raw_size"]),
        make=i["make"],
        model=i["model"],
        black_level=tuple(float(b) for b in d.black),
        white_level=tuple(float(v) for v in d.white),
        camera_wb=tuple(float(v) for v in i["camera_wb"]),
        colour=CameraColour.from_json(i["colour"]),
        orientation=i["orientation"],
        path=path,
    )


def srgb_to_tensor(srgb: np.ndarray) -> torch.Tensor:
    """``uint8``/``uint16`` ``[3, H, W]`` -> float32 ``[0, 1]``."""
    return torch.from_numpy(srgb_to_float(srgb))


def srgb_to_float(srgb: np.ndarray) -> np.ndarray:
    """NumPy version of :func:`srgb_to_tensor`."""
    scale = 1.0 / (255.0 if srgb.dtype == np.uint8 else 65535.0)
    return srgb.astype(np.float32) * np.float32(scale)


def read_raw(path: str | os.PathLike[str]) -> RawImage:
    """Decode a Bayer RAW file into a :class:`RawImage` (packed RGGB, normalised, cropped)."""
    return _to_raw_image(_decode(path, None), Path(path))


def render_srgb(path: str | os.PathLike[str], bits: int = 8) -> torch.Tensor:
    """LibRaw rendering with :data:`RENDER_RECIPE`, float32 ``[3, 2h, 2w]`` in ``[0, 1]``,
    cropped exactly like ``read_raw(path).packed`` (``bits``: 8 or 16 before scaling)."""
    d = _decode(path, bits)
    assert d.srgb is not None
    return srgb_to_tensor(d.srgb)


def load_pair(path: str | os.PathLike[str], bits: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """``(raw [4, h, w], srgb [3, 2h, 2w])`` from one decode of ``path``."""
    d = _decode(path, bits)
    assert d.srgb is not None
    return normalize_packed(d.packed, d.black, d.white), srgb_to_tensor(d.srgb)
