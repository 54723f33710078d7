"""The ``.rbit`` container: one RAW photo coded by a RAWtoBit model, as a self-describing file.

RAWtoBit (Jeong & Jung, ECCV-W 2022) turns a camera RAW into a bitstream from which an sRGB image
is decoded. The network only produces the entropy-coded streams; this module wraps them with what
a decoder needs to turn them back into *the photo*: which model (architecture, quality, metric and
a fingerprint of its exact weights), the input space the latent was coded from (from version 2;
a version-1 stream was coded from the paper's input), how the RAW mosaic was cropped and padded
on the way in (so
the output gets the photo's own size and orientation), the latent shape, the stream lengths, and
a CRC-32 over everything. The byte layout is documented in README.md ("The ``.rbit`` format");
all integers are little-endian.

The reader never trusts a length: every count and size is checked against the bytes actually
present before anything is sliced or allocated, every field is range-checked, and each problem is
reported as a one-line :class:`BitstreamError` that names the file.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from compressai_isp.codec.geometry import MAX_SIDE, ORIENTATIONS, Geometry, orientation_name
from compressai_isp.data.input_space import INPUT_SPACES
from compressai_isp.errors import InputError
from compressai_isp.io.identity import (
    FINGERPRINT_BYTES,
    UNRECORDED_INPUT_SPACE,
    ModelIdentity,
    weights_fingerprint,
)

__all__ = [
    "MAGIC",
    "FORMAT_VERSION",
    "INPUT_SPACE_VERSION",
    "FINGERPRINT_BYTES",
    "MAX_SIDE",
    "ORIENTATIONS",
    "BitstreamError",
    "Geometry",
    "Header",
    "Bitstream",
    "weights_fingerprint",
    "pack",
    "unpack",
    "read_bitstream",
]

#: File signature. The high-bit first byte catches 7-bit transfers, CR LF catches newline
#: translation, and 0x1A stops ``type`` on DOS -- the same trick as PNG's signature.
MAGIC = b"\x89RBIT\r\n\x1a"
#: Version 2 added the input space after the metric; version 1 streams still decode (as "paper").
FORMAT_VERSION = 2
#: The first version whose header names its input space.
INPUT_SPACE_VERSION = 2
_MAX_NAME = 64
_MAX_LATENT_DIMS = 4
_MAX_GROUPS = 16
_MAX_STRINGS = 16
# fullmatch, not match with "$": "$" also matches before a trailing newline (b"mse\n").
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]*")

_FIXED = struct.Struct("<8sHIQ")  # magic, version, header length, total length
_CRC = struct.Struct("<I")


class BitstreamError(InputError, ValueError):
    """A ``.rbit`` stream that cannot be decoded; the message is one line naming the source
    (exit status 1: the input failed)."""


@dataclass(frozen=True)
class Header:
    """Everything in a ``.rbit`` file except the entropy-coded payload; :attr:`identity` is the
    model that made it, as the record a zoo card and a checkpoint give too."""

    arch: str
    quality: int
    metric: str
    fingerprint: bytes
    geometry: Geometry
    latent_shape: tuple[int, ...]
    stream_lengths: tuple[tuple[int, ...], ...] = field(default=())
    version: int = FORMAT_VERSION
    #: What the coded packed RAW was normalised for (:mod:`compressai_isp.data.input_space`);
    #: a version-1 stream predates the field and was coded from the paper's input.
    input_space: str = "paper"

    @property
    def payload_bytes(self) -> int:
        return sum(sum(group) for group in self.stream_lengths)

    @property
    def identity(self) -> ModelIdentity:
        """The model that made the stream: architecture, quality, metric, input space (the
        config a header records) and weights fingerprint."""
        config = {"input_space": self.input_space}
        return ModelIdentity(self.arch, self.quality, self.metric, config, self.fingerprint)

    def model_name(self) -> str:
        """Short human description, e.g. ``rbn q6 mse``."""
        return self.identity.name()

    def describe(self) -> dict[str, object]:
        """The header as plain values (what ``compressai-isp info`` prints)."""
        g = self.geometry
        return {
            "format_version": self.version,
            "architecture": self.arch,
            "quality": self.quality,
            "metric": self.metric,
            "input_space": self.input_space,
            "weights_fingerprint": self.fingerprint.hex(),
            "raw_size": f"{g.raw_height}x{g.raw_width}",
            "cfa": g.cfa,
            "crop": f"{g.crop_height}x{g.crop_width} at (top {g.crop_top}, left {g.crop_left})",
            "padding_packed": f"bottom {g.pad_bottom}, right {g.pad_right}",
            "output_size": f"{g.crop_height}x{g.crop_width}"
            + (" (rotated on decode)" if g.rotates else ""),
            "orientation": f"{g.orientation} ({orientation_name(g.orientation)})",
            "latent_shape": "x".join(str(s) for s in self.latent_shape),
            "stream_lengths": [list(group) for group in self.stream_lengths],
            "payload_bytes": self.payload_bytes,
        }


@dataclass(frozen=True)
class Bitstream:
    """A parsed ``.rbit`` file: header plus the model's ``strings`` (``[[y], [z]]`` for mbt2018)."""

    header: Header
    strings: list[list[bytes]]
    total_bytes: int = 0


def _check_name(value: str, what: str) -> None:
    if not (isinstance(value, str) and len(value) <= _MAX_NAME and _NAME_RE.fullmatch(value)):
        raise ValueError(f"{what} {value!r} must be 1-{_MAX_NAME} chars of [a-z0-9_.-]")


def pack(
    *,
    arch: str,
    quality: int,
    metric: str,
    fingerprint: bytes,
    geometry: Geometry,
    latent_shape: Sequence[int],
    strings: Sequence[Sequence[bytes]],
    input_space: str = "paper",
) -> bytes:
    """Serialise one coded photo into the bytes of a ``.rbit`` file (layout: README.md);
    ``input_space`` is the space the model coded (``model.input_space``)."""
    _check_name(arch, "architecture")
    _check_name(metric, "metric")
    if input_space not in INPUT_SPACES:
        raise ValueError(f"input space {input_space!r} is not one of {', '.join(INPUT_SPACES)}")
    if not 0 <= quality <= 255:
        raise ValueError(f"quality {quality} does not fit the format (0..255)")
    if len(fingerprint) != FINGERPRINT_BYTES:
        raise ValueError(f"fingerprint must be {FINGERPRINT_BYTES} bytes, got {len(fingerprint)}")
    geometry.check()
    if not 1 <= len(latent_shape) <= _MAX_LATENT_DIMS or not all(
        0 < int(s) <= MAX_SIDE for s in latent_shape
    ):
        raise ValueError(f"latent shape {tuple(latent_shape)} does not fit the format")
    if not 1 <= len(strings) <= _MAX_GROUPS or not all(
        1 <= len(group) <= _MAX_STRINGS for group in strings
    ):
        raise ValueError(
            f"expected 1..{_MAX_GROUPS} stream groups of 1..{_MAX_STRINGS} strings each"
        )
    return pack_unchecked(
        arch=arch,
        quality=quality,
        metric=metric,
        fingerprint=fingerprint,
        geometry=geometry,
        latent_shape=latent_shape,
        strings=strings,
        input_space=input_space,
    )


def pack_unchecked(
    *,
    arch: str,
    quality: int,
    metric: str,
    fingerprint: bytes,
    geometry: Geometry,
    latent_shape: Sequence[int],
    strings: Sequence[Sequence[bytes]],
    input_space: str = "paper",
    version: int = FORMAT_VERSION,
) -> bytes:
    """:func:`pack` without its checks: the bytes a buggy or hostile writer would produce, with
    valid lengths and CRC (``scripts/fuzz_codec.py`` crafts streams with it). Each value must
    still fit its field's integer type, else ``struct.error``. ``version`` below
    :data:`INPUT_SPACE_VERSION` writes that older layout, without the input space (what an
    older compressai-isp wrote)."""
    g = geometry
    body = bytearray()
    body += struct.pack("<B", len(arch)) + arch.encode("ascii")
    body += struct.pack("<B", quality)
    body += struct.pack("<B", len(metric)) + metric.encode("ascii")
    if version >= INPUT_SPACE_VERSION:
        body += struct.pack("<B", len(input_space)) + input_space.encode("ascii")
    body += fingerprint
    body += struct.pack("<II4s", g.raw_height, g.raw_width, g.cfa.encode("ascii"))
    body += struct.pack("<IIII", g.crop_top, g.crop_left, g.crop_height, g.crop_width)
    body += struct.pack("<HH", g.pad_bottom, g.pad_right)
    body += struct.pack("<B", g.orientation)
    body += struct.pack("<B", len(latent_shape))
    body += b"".join(struct.pack("<I", int(s)) for s in latent_shape)
    body += struct.pack("<B", len(strings))
    for group in strings:
        body += struct.pack("<B", len(group))
        body += b"".join(struct.pack("<I", len(s)) for s in group)
    header_len = _FIXED.size + len(body)
    payload = b"".join(bytes(s) for group in strings for s in group)
    total = header_len + len(payload) + _CRC.size
    data = _FIXED.pack(MAGIC, version, header_len, total) + bytes(body) + payload
    return data + _CRC.pack(zlib.crc32(data))


class _Reader:
    """Bounds-checked cursor over the header bytes; running past the end is a truncation."""

    def __init__(self, data: bytes, start: int, end: int, source: str) -> None:
        self.data, self.pos, self.end, self.source = data, start, end, source

    def take(self, n: int, what: str) -> bytes:
        if n > self.end - self.pos:
            raise BitstreamError(f"{self.source}: malformed header: {what} runs past its end")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        s = struct.Struct("<" + fmt)
        return s.unpack(self.take(s.size, what))

    def name(self, what: str) -> str:
        (n,) = self.unpack("B", what)
        raw = self.take(n, what)
        try:
            value = raw.decode("ascii")
            _check_name(value, what)
        except (UnicodeDecodeError, ValueError):
            raise BitstreamError(f"{self.source}: malformed header: bad {what} {raw!r}") from None
        return value


def unpack(data: bytes, source: str = "<stream>") -> Bitstream:
    """Parse and validate the bytes of a ``.rbit`` file; raise :class:`BitstreamError` if bad.

    Checks, in this order: empty; signature; declared total length against the real one
    (truncated / trailing bytes); CRC-32 (any corruption); format version (a newer file gets
    "upgrade" advice); then every header field and the stream lengths against the payload.
    The signature, the 22-byte fixed prefix and the trailing CRC are frozen for all versions,
    which is what lets the CRC be checked before the version: a flipped version bit is
    reported as corruption, not as a file from the future.
    """
    data = bytes(data)
    version, header_len, total = _checked_prefix(data, source)
    # From here on the bytes are what the writer wrote; the checks below guard against a
    # buggy or deliberately crafted writer, so their messages say "malformed".
    if not _FIXED.size <= header_len <= total - _CRC.size:
        raise BitstreamError(f"{source}: malformed header: header length {header_len} out of range")
    r = _Reader(data, _FIXED.size, header_len, source)
    arch = r.name("architecture")
    (quality,) = r.unpack("B", "quality")
    metric = r.name("metric")
    input_space = _read_input_space(r, version)
    fingerprint = r.take(FINGERPRINT_BYTES, "weights fingerprint")
    geometry = _read_geometry(r)
    latent_shape, lengths = _read_stream_table(r)
    if r.pos != header_len:
        raise BitstreamError(
            f"{source}: malformed header: {header_len - r.pos} unexplained header bytes"
        )
    payload_len = total - _CRC.size - header_len
    declared = sum(sum(group) for group in lengths)
    if declared != payload_len:
        raise BitstreamError(
            f"{source}: malformed header: streams add up to {declared} bytes, payload has "
            f"{payload_len}"
        )
    strings: list[list[bytes]] = []
    pos = header_len
    for group in lengths:
        strings.append([data[pos : pos + n] for n in group])
        pos += sum(group)
    header = Header(
        arch, quality, metric, fingerprint, geometry, latent_shape, lengths, version, input_space
    )
    return Bitstream(header, strings, total)


def _checked_prefix(data: bytes, source: str) -> tuple[int, int, int]:
    """``(version, header length, total length)`` of a stream whose signature, length, CRC and
    version all check out."""
    if not data:
        raise BitstreamError(f"{source}: empty file, not an .rbit stream")
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        if MAGIC.startswith(data[: len(MAGIC)]):
            raise BitstreamError(f"{source}: truncated: {len(data)} bytes, not even a signature")
        raise BitstreamError(f"{source}: not an .rbit stream (wrong magic {data[:8]!r})")
    if len(data) < _FIXED.size + _CRC.size:
        raise BitstreamError(f"{source}: truncated: {len(data)} bytes, shorter than any header")
    _, version, header_len, total = _FIXED.unpack_from(data)
    if total > len(data):
        raise BitstreamError(
            f"{source}: truncated: header declares {total} bytes, file has {len(data)}"
        )
    if total < len(data):
        raise BitstreamError(
            f"{source}: corrupted: {len(data) - total} unexpected bytes after the declared "
            f"{total}-byte stream"
        )
    (stored_crc,) = _CRC.unpack_from(data, total - _CRC.size)
    actual_crc = zlib.crc32(memoryview(data)[: total - _CRC.size])
    if stored_crc != actual_crc:
        raise BitstreamError(
            f"{source}: corrupted: CRC-32 mismatch (stored {stored_crc:08x}, computed "
            f"{actual_crc:08x})"
        )
    if version > FORMAT_VERSION:
        raise BitstreamError(
            f"{source}: format version {version} is newer than this compressai-isp reads "
            f"(up to {FORMAT_VERSION}); upgrade compressai-isp"
        )
    if version == 0:
        raise BitstreamError(f"{source}: malformed header: format version 0 does not exist")
    return version, header_len, total


def _read_geometry(r: _Reader) -> Geometry:
    raw_h, raw_w, cfa_raw = r.unpack("II4s", "raw geometry")
    top, left, crop_h, crop_w = r.unpack("IIII", "crop")
    pad_b, pad_r = r.unpack("HH", "padding")
    (orientation,) = r.unpack("B", "orientation")
    try:
        geometry = Geometry(
            raw_h, raw_w, cfa_raw.decode("ascii"), top, left, crop_h, crop_w,
            pad_b, pad_r, orientation,
        )  # fmt: skip
        geometry.check()
    except (UnicodeDecodeError, ValueError) as err:
        raise BitstreamError(f"{r.source}: malformed header: {err}") from None
    return geometry


def _read_stream_table(r: _Reader) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """The latent shape and the string lengths of each group, range-checked."""
    (ndim,) = r.unpack("B", "latent shape")
    if not 1 <= ndim <= _MAX_LATENT_DIMS:
        raise BitstreamError(f"{r.source}: malformed header: latent shape has {ndim} dimensions")
    latent_shape = r.unpack("I" * ndim, "latent shape")
    if not all(0 < s <= MAX_SIDE for s in latent_shape):
        raise BitstreamError(f"{r.source}: malformed header: latent shape {latent_shape}")
    (n_groups,) = r.unpack("B", "stream table")
    if not 1 <= n_groups <= _MAX_GROUPS:
        raise BitstreamError(f"{r.source}: malformed header: {n_groups} stream groups")
    lengths: list[tuple[int, ...]] = []
    for _ in range(n_groups):
        (count,) = r.unpack("B", "stream table")
        if not 1 <= count <= _MAX_STRINGS:
            raise BitstreamError(f"{r.source}: malformed header: {count} streams in a group")
        lengths.append(r.unpack("I" * count, "stream table"))
    return tuple(latent_shape), tuple(lengths)


def _read_input_space(r: _Reader, version: int) -> str:
    """The header's input space; a stream older than the field was coded from the paper's."""
    if version < INPUT_SPACE_VERSION:
        return UNRECORDED_INPUT_SPACE
    space = r.name("input space")
    if space not in INPUT_SPACES:
        raise BitstreamError(
            f"{r.source}: malformed header: unknown input space {space!r} "
            f"(known: {', '.join(INPUT_SPACES)})"
        )
    return space


def read_bitstream(path: str | os.PathLike[str]) -> Bitstream:
    """Read and validate a ``.rbit`` file (see :func:`unpack`).

    Only regular files are read, and a file that does not start with the signature is refused
    after its first 8 bytes, so pointing the reader at a device, a pipe or a huge foreign file
    neither blocks nor reads it all.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise BitstreamError(f"{path}: is a directory, not an .rbit file")
        if path.exists() and not path.is_file():
            raise BitstreamError(f"{path}: not a regular file")
        with path.open("rb") as f:
            head = f.read(len(MAGIC))
            if head != MAGIC:
                unpack(head, str(path))  # raises the empty / truncated / wrong-magic error
            data = head + f.read()
    except OSError as err:
        raise BitstreamError(f"{path}: cannot read: {err.strerror or err}") from None
    return unpack(data, str(path))
