"""RAW photo -> ``.rbit`` bytes -> sRGB: the codec behind ``compressai-isp encode/decode``.

Encoding (RAWtoBit, Jeong & Jung 2022, Fig. 1c): the RAW file is read by
:func:`compressai_isp.data.read_raw` (visible area, per-channel black/white normalisation,
crop to a red site, RGGB packing, paper §4.1), put in the model's input space from the file's
own metadata (``RawImage.input(model.input_space)``: as it is for ``"paper"``, white-balanced
and mapped to linear sRGB for ``"camera-normalised"``), replicate-padded to the model's
``downsampling_factor``, coded by ``model.compress``, and wrapped in the container of
:mod:`compressai_isp.codec.format` together with that geometry and input space. Decoding
reverses it and gives the photo back at its own size and orientation.

A stream names the model that made it (architecture, quality, metric, input space) and carries
a fingerprint of the exact weights; :func:`model_for_stream` finds those weights in the zoo (or
takes a checkpoint) and refuses to decode with any others, or with a model of another input
space.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imagecodecs
import numpy as np
import torch
from torch import Tensor, nn

from compressai_isp import zoo
from compressai_isp.codec import pipeline
from compressai_isp.codec.format import Bitstream, BitstreamError, Geometry, Header, pack
from compressai_isp.codec.geometry import orient
from compressai_isp.codec.limits import DecodeLimits, check_decode_cost
from compressai_isp.context import ContextMismatchError
from compressai_isp.data import UNRECORDED_INPUT_SPACE, read_raw
from compressai_isp.io import LoadedModel, ModelIdentity, atomic_open, load_model
from compressai_isp.models import require_compression
from compressai_isp.models.base import checked_input_space
from compressai_isp.precision import resolve_precision, set_transform_precision

__all__ = [
    "DEFAULT_ARCH",
    "DEFAULT_METRIC",
    "DEFAULT_QUALITY",
    "CodecModel",
    "codec_model",
    "zoo_model",
    "checkpoint_model",
    "model_for_stream",
    "encode_raw",
    "encode_packed",
    "raw_geometry",
    "encode_file",
    "decode_bitstream",
    "DecodeLimits",
    "orient",
    "save_image",
    "IMAGE_SUFFIXES",
]

#: The default model of every command, the best zoo model at the paper's quality-6 rate (λ =
#: 0.18; README, "The zoo at equal budget"): ``compressai_isp.zoo.unified_raw(quality=7,
#: pretrained=True)``.
DEFAULT_ARCH, DEFAULT_QUALITY, DEFAULT_METRIC = "unified-raw", 7, "mse"
#: Output formats of :func:`save_image`.
IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
_MAX_HYPER_LATENT = 2.0**24


@dataclass(frozen=True)
class CodecModel(LoadedModel):
    """A RAW -> sRGB compression model ready to code (eval mode, entropy tables filled, its
    transforms' precision set), with the identity written into streams."""

    def stream_identity(self) -> ModelIdentity:
        """What a stream header records of this model; one of unknown quality (a file that
        does not record it) cannot write one until the quality is given."""
        if self.quality is None:
            raise ValueError(
                f"checkpoint {self.source} does not record its quality; pass -q QUALITY "
                "(a .rbit header names it)"
            )
        return self.identity.streamed()


def _ready(model: nn.Module, what: str) -> nn.Module:
    """Eval mode with the entropy coder's tables filled; refuse models that cannot code RAW."""
    if getattr(model, "input_kind", None) != "raw" or getattr(model, "output_kind", None) != "srgb":
        raise ValueError(
            f"{what} maps {getattr(model, 'input_kind', '?')} to "
            f"{getattr(model, 'output_kind', '?')}; the RAW codec needs a RAW -> sRGB "
            "compression model (rbn, unified-raw, cascaded)"
        )
    require_compression(model, what).eval()
    checked_input_space(getattr(model, "input_space", None) or UNRECORDED_INPUT_SPACE)
    # Fills the CDF tables only when absent (update(force=False)), so tables shipped with the
    # weights are used as they are.
    model.update(force=False)
    return model


def _codec(
    loaded: LoadedModel, source: str, precision: str = "fp32", channels_last: bool = False
) -> CodecModel:
    """``loaded`` made ready to code, its transforms in ``precision`` (the fingerprint is the
    weights' as loaded: precision never changes which stream a model decodes)."""
    model = _ready(loaded.model, f"{loaded.arch} ({source})")
    device = next(model.parameters()).device
    set_transform_precision(model, resolve_precision(precision, device), channels_last)
    return CodecModel(model, loaded.identity, source)


def codec_model(
    model: nn.Module,
    arch: str,
    quality: int,
    metric: str = "mse",
    source: str = "in memory",
    precision: str = "fp32",
    channels_last: bool = False,
) -> CodecModel:
    """Wrap an in-memory model (e.g. one you just trained) for :func:`encode_raw` and
    :func:`decode_bitstream`; ``arch`` / ``quality`` / ``metric`` go into the stream header.

    ``precision`` / ``channels_last`` apply to the analysis and synthesis transforms only
    (:mod:`compressai_isp.precision`): streams stay decodable by a model of any precision.
    """
    identity = ModelIdentity.of_model(model, arch, quality, metric)
    return _codec(LoadedModel(model, identity, source), source, precision, channels_last)


def zoo_model(arch: str, quality: int, metric: str = "mse", **precision: Any) -> CodecModel:
    """The zoo's trained weights for ``arch`` / ``quality`` / ``metric``
    (:func:`compressai_isp.zoo.load_pretrained`).

    Raises ``LookupError`` (``WeightsNotFoundError``) naming the missing weights, or
    ``ValueError`` for an unknown architecture or quality.
    """
    return _codec(zoo.load_pretrained(arch, quality, metric), "zoo", **precision)


def checkpoint_model(
    path: str | os.PathLike[str],
    arch: str | None = None,
    quality: int | None = None,
    metric: str | None = None,
    input_space: str | None = None,
    **precision: Any,
) -> CodecModel:
    """A model from a training checkpoint or an exported ``model_best.pth``
    (:func:`compressai_isp.io.load_model`).

    The architecture, quality, metric and input space come from the file when it records them
    (the training CLI's files do), else from the arguments (a bare state dict records no input
    space: ``"paper"`` unless ``input_space`` says otherwise); the widths come from the weights
    themselves. A file that records no quality decodes, but encodes only with ``quality``.
    """
    loaded = load_model(path, arch=arch, quality=quality, metric=metric, input_space=input_space)
    return _codec(loaded, str(path), **precision)


def model_for_stream(
    header: Header,
    source: str,
    checkpoint: CodecModel | None = None,
    cache: dict[tuple[str, int, str], CodecModel] | None = None,
    **precision: Any,
) -> CodecModel:
    """The model that decodes ``header``'s stream, or a one-line :class:`BitstreamError`.

    With ``checkpoint`` that model is used; otherwise the zoo's weights for the header's
    architecture / quality / metric. Either way the weights' fingerprint must equal the
    stream's.
    """
    needed = f"{header.fingerprint.hex()} ({header.model_name()})"
    if checkpoint is None:
        key = (header.arch, header.quality, header.metric)
        found = cache.get(key) if cache is not None else None
        if found is None:
            if header.arch not in zoo.image_models:
                raise BitstreamError(
                    f"{source}: made by unknown model architecture {header.arch!r} "
                    f"(known: {', '.join(sorted(zoo.image_models))}); this stream needs weights "
                    f"{needed}: pass them with --checkpoint"
                )
            try:
                found = zoo_model(header.arch, header.quality, header.metric, **precision)
            except (LookupError, ValueError) as err:
                raise BitstreamError(
                    f"{source}: this stream needs weights {needed}, which the zoo cannot "
                    f"provide ({err}); pass them with --checkpoint"
                ) from None
            if cache is not None:
                cache[key] = found
        checkpoint = found
    if checkpoint.fingerprint != header.fingerprint:
        raise BitstreamError(
            f"{source}: this stream needs weights {needed}; loaded weights are "
            f"{checkpoint.describe()}"
        )
    _check_input_space(header, checkpoint, source)
    return checkpoint


def _check_input_space(header: Header, cm: CodecModel, source: str) -> None:
    """Refuse to decode a latent coded from one input space with a model of the other."""
    if header.input_space != cm.input_space:
        raise BitstreamError(
            f"{source}: this stream was coded from {header.input_space!r} input; the model "
            f"{cm.describe()} takes {cm.input_space!r} input"
        )


def raw_geometry(raw: Any) -> Geometry:
    """Where a :class:`compressai_isp.data.RawImage`'s packed pixels lie in its file
    (:meth:`Geometry.of_raw`; no padding yet: :func:`encode_packed` adds what the model needs)."""
    return Geometry.of_raw(raw)


def encode_raw(raw: Any, cm: CodecModel) -> bytes:
    """Code a :class:`compressai_isp.data.RawImage` into the bytes of a ``.rbit`` file.

    The model's input space is applied from the RAW's own metadata
    (``raw.input(cm.input_space)``) and written into the header.
    """
    return encode_packed(raw.input(cm.input_space), raw_geometry(raw), cm, cm.input_space)


def encode_packed(
    packed: Tensor, geometry: Geometry, cm: CodecModel, input_space: str | None = None
) -> bytes:
    """Code a packed RAW ``[4, crop_height/2, crop_width/2]`` that is already in
    ``input_space`` (default: the model's; see :func:`compressai_isp.data.to_input_space`).

    ``geometry`` says where it lies in its file (:func:`raw_geometry`; its padding is replaced
    by what the model needs). A tensor in another space than the model's is refused: the
    model would code it, and decode a photo of the wrong colours.
    """
    space = cm.input_space if input_space is None else input_space
    if space != cm.input_space:
        raise ValueError(
            f"{cm.arch} q{cm.quality} takes {cm.input_space!r} input; got a packed RAW in "
            f"{space!r} (make it with RawImage.input({cm.input_space!r}))"
        )
    expected = (4, geometry.crop_height // 2, geometry.crop_width // 2)
    if not isinstance(packed, Tensor) or tuple(packed.shape) != expected:
        got = tuple(packed.shape) if isinstance(packed, Tensor) else type(packed).__name__
        raise ValueError(f"expected a packed RAW of shape {expected} for the geometry; got {got}")
    identity = cm.stream_identity()
    coded = pipeline.compress(cm.model, packed.unsqueeze(0).to(torch.float32))
    return pack(
        arch=identity.arch,
        quality=identity.quality,
        metric=identity.metric,
        fingerprint=identity.fingerprint,
        geometry=geometry.with_frame(coded.frame),
        latent_shape=coded.latent_shape,
        strings=coded.strings,
        input_space=space,
    )


def encode_file(path: str | os.PathLike[str], cm: CodecModel) -> bytes:
    """Read a RAW file (``RawReadError`` names it when unusable) and code it."""
    return encode_raw(read_raw(path), cm)


def _expected_latent_shape(model: nn.Module, geometry: Geometry) -> tuple[int, ...]:
    factor = model.downsampling_factor
    ph, pw = geometry.packed_size
    return (ph // factor, pw // factor)


def _guard_hyperprior_strings(model: nn.Module, bs: Bitstream) -> list[list[bytes]]:
    """Zero-pad the hyperprior strings so a crafted stream cannot make rANS read past them.

    CompressAI's rANS decoder has no bounds check: a string shorter than its symbols need makes
    it read foreign memory. Trailing zeros change nothing for a valid stream (the decoder reads
    forward and stops at the last symbol) and bound what a hostile one can read. The latent
    strings carry their own checksums and padding (:mod:`compressai_isp.context`).
    """
    strings = [list(group) for group in bs.strings]
    symbols = model.entropy_bottleneck.channels * int(np.prod(bs.header.latent_shape))
    strings[1] = [s + bytes(8 * symbols + 64) for s in strings[1]]
    return strings


def _check_hyperprior_string(
    model: nn.Module, guarded: list[bytes], bs: Bitstream, source: str
) -> None:
    """Refuse a hyper-latent string that this model's encoder could not have written.

    The encoder is deterministic, so re-coding the decoded hyper-latent gives back a valid
    string byte for byte; anything else (damage behind a recomputed CRC, or bytes crafted to
    pass the length floor) is caught here, before the latent's far costlier decoding.
    """
    eb = model.entropy_bottleneck
    z_hat = eb.decompress(guarded, list(bs.header.latent_shape[-2:]))
    # Past 2^24 float32 cannot hold the symbols exactly, and from 2^27 on CompressAI's rANS
    # encoder never ends (its bypass loop shifts by >= 32 bits): no encoder wrote such values.
    if not bool(z_hat.abs().amax() < _MAX_HYPER_LATENT) or eb.compress(z_hat) != list(
        bs.strings[1]
    ):
        raise BitstreamError(
            f"{source}: cannot decode the payload: the hyper-latent string is damaged or was not "
            "written by these weights' encoder"
        )


def _decode_failure(err: BaseException, source: str, estimate: int) -> BitstreamError:
    """The one-line error for an exception raised while decoding the payload."""
    text = str(err).strip()
    if isinstance(err, MemoryError) or "allocate" in text:
        return BitstreamError(
            f"{source}: out of memory decoding the payload (estimated {estimate / 1e9:.1f} GB; "
            "other programs may be using the rest)"
        )
    if isinstance(err, ContextMismatchError):
        return BitstreamError(
            f"{source}: cannot decode the payload: the decoded latent fails the encoder's "
            "symbol checksum: the latent string is damaged or crafted, or this decoder's "
            "arithmetic differs from the encoder's (other device, library version or CPU kind)"
        )
    first = text.splitlines()[0] if text else type(err).__name__
    return BitstreamError(f"{source}: cannot decode the payload: {first}")


def _check_header_fits_model(bs: Bitstream, model: nn.Module, source: str) -> None:
    h = bs.header
    g = h.geometry
    factor = model.downsampling_factor
    ph, pw = g.packed_size
    if ph % factor or pw % factor or g.pad_bottom >= factor or g.pad_right >= factor:
        raise BitstreamError(
            f"{source}: malformed header: padded size {ph}x{pw} (padding {g.pad_bottom}, "
            f"{g.pad_right}) does not fit the model's downsampling factor {factor}"
        )
    expected = _expected_latent_shape(model, g)
    if tuple(h.latent_shape) != expected:
        raise BitstreamError(
            f"{source}: malformed header: latent shape {h.latent_shape} does not match the "
            f"{ph}x{pw} packed image (expected {expected})"
        )


def decode_bitstream(
    bs: Bitstream,
    cm: CodecModel,
    source: str = "<stream>",
    apply_orientation: bool = True,
    limits: DecodeLimits | None = None,
) -> Tensor:
    """Decode a parsed stream into sRGB ``[3, H, W]`` in ``[0, 1]`` at the photo's own size.

    ``cm`` must be the model :func:`model_for_stream` returns for this header (its weights and
    its input space: a stream coded from one input space is refused by a model of the other,
    in one line). The image has
    the coded crop's size and, with ``apply_orientation``, the camera's orientation applied
    (LibRaw's ``flip``); without it, it is pixel-aligned with the RAW mosaic (and with
    :func:`compressai_isp.data.render_srgb`). Before the payload is touched, the stream's cost
    is checked against ``limits`` (default :class:`DecodeLimits`: 200 MP, the memory
    available) and its hyper-latent against what the geometry needs
    (:func:`compressai_isp.codec.limits.check_decode_cost`).
    """
    _check_input_space(bs.header, cm, source)
    _check_header_fits_model(bs, cm.model, source)
    estimate = check_decode_cost(bs, cm.model, source, limits)
    g = bs.header.geometry
    strings = _guard_hyperprior_strings(cm.model, bs)
    try:
        with torch.no_grad():
            _check_hyperprior_string(cm.model, strings[1], bs, source)
        srgb = pipeline.decompress(cm.model, strings, bs.header.latent_shape, g.frame)
        srgb = srgb[0].clamp(0, 1)
    except (ValueError, RuntimeError, IndexError, MemoryError) as err:
        if isinstance(err, BitstreamError):
            raise
        raise _decode_failure(err, source, estimate) from None
    return orient(srgb, g.orientation) if apply_orientation else srgb


def save_image(path: str | os.PathLike[str], srgb: Tensor, bits: int = 8) -> None:
    """Write sRGB ``[3, H, W]`` in ``[0, 1]`` as an 8- or 16-bit PNG or TIFF, atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(
            f"{path}: output must be .png or .tif/.tiff, not {suffix or 'no suffix'!r}"
        )
    if bits not in (8, 16):
        raise ValueError(f"--bits must be 8 or 16, got {bits}")
    peak, dtype = (255.0, np.uint8) if bits == 8 else (65535.0, np.uint16)
    array = srgb.detach().cpu().clamp(0, 1).mul(peak).round().permute(1, 2, 0).numpy()
    array = np.ascontiguousarray(array.astype(dtype))
    encode: Callable[[np.ndarray], bytes] = (
        imagecodecs.png_encode if suffix == ".png" else imagecodecs.tiff_encode
    )
    data = encode(array)
    with atomic_open(path) as f:
        f.write(data)
