"""The .rbit container: exact round trip of every header field, and one-line errors for bad bytes.

These tests need no model: the payload is arbitrary bytes, so thousands of mutated files go
through the parser in a couple of seconds. The decoder path with a real model is fuzzed in
tests/test_codec.py.
"""

from __future__ import annotations

import struct
import zlib

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compressai_isp.codec.format import (
    FORMAT_VERSION,
    MAGIC,
    BitstreamError,
    Geometry,
    pack,
    pack_unchecked,
    read_bitstream,
    unpack,
    weights_fingerprint,
)

GEOMETRY = Geometry(
    raw_height=37,
    raw_width=53,
    cfa="GBRG",
    crop_top=1,
    crop_left=2,
    crop_height=34,
    crop_width=50,
    pad_bottom=15,
    pad_right=7,
    orientation=6,
)
STRINGS = [[b"\x01\x02\x03y-stream" * 3], [b"z"]]


def make_stream(**overrides) -> bytes:
    fields = dict(
        arch="rbn",
        quality=6,
        metric="mse",
        fingerprint=bytes(range(16)),
        geometry=GEOMETRY,
        latent_shape=(1, 1),
        strings=STRINGS,
    )
    fields.update(overrides)
    return pack(**fields)


def with_fixed_crc(data: bytes) -> bytes:
    body = data[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def test_round_trip_keeps_every_header_field_and_stream() -> None:
    bs = unpack(make_stream())
    h = bs.header
    assert (h.arch, h.quality, h.metric, h.version) == ("rbn", 6, "mse", FORMAT_VERSION)
    assert h.fingerprint == bytes(range(16))
    assert h.geometry == GEOMETRY
    assert h.latent_shape == (1, 1)
    assert h.stream_lengths == ((len(STRINGS[0][0]),), (1,))
    assert bs.strings == STRINGS
    assert h.geometry.packed_size == (17 + 15, 25 + 7)


def test_file_starts_with_magic_and_ends_with_crc_of_everything_before() -> None:
    data = make_stream()
    assert data.startswith(MAGIC)
    (crc,) = struct.unpack("<I", data[-4:])
    assert crc == zlib.crc32(data[:-4])
    (version,) = struct.unpack_from("<H", data, len(MAGIC))
    assert version == FORMAT_VERSION


def assert_geometry_and_streams_at(data: bytes, g: int) -> None:
    assert struct.unpack_from("<II4sIIIIHHB", data, g) == (
        37, 53, b"GBRG", 1, 2, 34, 50, 15, 7, 6,
    )  # fmt: skip
    assert struct.unpack_from("<BII", data, g + 33) == (2, 1, 1)
    assert struct.unpack_from("<BBIBI", data, g + 42) == (2, 1, len(STRINGS[0][0]), 1, 1)


def test_byte_layout_is_the_documented_one() -> None:
    # README, "The .rbit format": for rbn / mse / paper, G = 42 + 3 + 3 + 5 = 53 and the
    # header is 106 bytes.
    data = make_stream()
    magic, version, header_len, total = struct.unpack_from("<8sHIQ", data, 0)
    assert (magic, version, header_len, total) == (MAGIC, 2, 106, len(data))
    assert data[22:26] == b"\x03rbn" and data[26] == 6 and data[27:31] == b"\x03mse"
    assert data[31:37] == b"\x05paper"
    assert data[37:53] == bytes(range(16))
    assert_geometry_and_streams_at(data, 53)
    assert data[header_len:-4] == STRINGS[0][0] + STRINGS[1][0]
    assert len(data) - len(STRINGS[0][0]) - 1 == 110
    longer = make_stream(input_space="camera-normalised")
    assert longer[31:49] == b"\x11camera-normalised" and len(longer) == len(data) + 12


def test_version_1_layout_has_no_input_space_and_means_paper() -> None:
    # What compressai-isp wrote before input spaces: G = 41 + a + m, a 100-byte header.
    fields = dict(
        arch="rbn", quality=6, metric="mse", fingerprint=bytes(range(16)), geometry=GEOMETRY,
        latent_shape=(1, 1), strings=STRINGS,
    )  # fmt: skip
    data = pack_unchecked(**fields, version=1)
    assert struct.unpack_from("<H", data, 8) == (1,) and struct.unpack_from("<I", data, 10) == (
        100,
    )
    assert data[31:47] == bytes(range(16))
    assert_geometry_and_streams_at(data, 47)
    header = unpack(data).header
    assert (header.version, header.input_space) == (1, "paper")
    assert header.describe()["input_space"] == "paper"
    assert header.geometry == GEOMETRY and unpack(data).strings == STRINGS


def test_the_input_space_round_trips() -> None:
    header = unpack(make_stream(input_space="camera-normalised")).header
    assert header.input_space == "camera-normalised"
    assert header.describe()["input_space"] == "camera-normalised"
    assert unpack(make_stream()).header.input_space == "paper"


def test_an_unknown_input_space_is_refused_when_writing_and_reading() -> None:
    with pytest.raises(ValueError, match="input space 'linear' is not one of paper, camera-"):
        make_stream(input_space="linear")
    fields = dict(
        arch="rbn", quality=6, metric="mse", fingerprint=bytes(range(16)), geometry=GEOMETRY,
        latent_shape=(1, 1), strings=STRINGS,
    )  # fmt: skip
    crafted = pack_unchecked(**fields, input_space="linear")
    with pytest.raises(BitstreamError, match=r"malformed header: unknown input space 'linear'"):
        unpack(crafted, "x.rbit")
    with pytest.raises(BitstreamError, match=r"malformed header: bad input space b'paper\\n'"):
        unpack(pack_unchecked(**fields, input_space="paper\n"), "x.rbit")


def test_describe_lists_the_header_for_info() -> None:
    info = unpack(make_stream()).header.describe()
    assert info["architecture"] == "rbn" and info["quality"] == 6
    assert info["cfa"] == "GBRG"
    assert info["crop"] == "34x50 at (top 1, left 2)"
    assert info["weights_fingerprint"] == bytes(range(16)).hex()


def test_empty_input_is_reported_as_empty() -> None:
    with pytest.raises(BitstreamError, match="photo.rbit: empty file"):
        unpack(b"", "photo.rbit")


def test_every_truncation_is_rejected() -> None:
    data = make_stream()
    for n in range(1, len(data)):
        with pytest.raises(BitstreamError, match="truncated"):
            unpack(data[:n], "x.rbit")


def test_every_single_bit_flip_is_rejected() -> None:
    data = make_stream()
    for bit in range(8 * len(data)):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(BitstreamError, match="x.rbit: (corrupted|truncated|not an .rbit)"):
            unpack(bytes(flipped), "x.rbit")


def test_a_payload_bit_flip_is_named_a_crc_mismatch() -> None:
    data = bytearray(make_stream())
    data[-10] ^= 0x10
    with pytest.raises(BitstreamError, match="CRC-32 mismatch"):
        unpack(bytes(data))


def test_wrong_magic_names_the_file() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(40)
    with pytest.raises(BitstreamError, match=r"^a.png: not an .rbit stream \(wrong magic"):
        unpack(png, "a.png")


def test_trailing_bytes_are_rejected() -> None:
    with pytest.raises(BitstreamError, match="unexpected bytes after"):
        unpack(make_stream() + b"\0")


def test_newer_format_version_asks_for_an_upgrade() -> None:
    data = bytearray(make_stream())
    struct.pack_into("<H", data, len(MAGIC), FORMAT_VERSION + 1)
    with pytest.raises(BitstreamError, match=f"version {FORMAT_VERSION + 1} is newer.*upgrade"):
        unpack(with_fixed_crc(bytes(data)))


@pytest.mark.parametrize(
    "geometry, message",
    [
        (GEOMETRY.__class__(10, 10, "RGGB", 0, 0, 12, 10), "exceeds"),
        (GEOMETRY.__class__(10, 10, "RGGB", 1, 0, 8, 10), "not a red site"),
        (GEOMETRY.__class__(10, 10, "RGGB", 0, 0, 7, 10), "positive and even"),
        (GEOMETRY.__class__(10, 10, "RGBG", 0, 0, 8, 10), "not a Bayer pattern"),
        (GEOMETRY.__class__(10, 10, "RGGB", 0, 0, 8, 10, orientation=2), "orientation"),
    ],
)
def test_inconsistent_geometry_is_refused_when_writing(geometry: Geometry, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_stream(geometry=geometry)


def test_crafted_inconsistent_header_with_valid_crc_is_malformed_not_a_crash() -> None:
    data = bytearray(make_stream())
    # The crop height field: make it odd, then fix the CRC as a crafted file would.
    offset = data.index(struct.pack("<IIII", 1, 2, 34, 50)) + 8
    struct.pack_into("<I", data, offset, 35)
    with pytest.raises(BitstreamError, match="malformed header: crop size 35x50"):
        unpack(with_fixed_crc(bytes(data)))


@pytest.mark.parametrize("field", ["arch", "metric"])
def test_names_with_a_trailing_newline_are_refused(field: str) -> None:
    name = {"arch": "rbn", "metric": "mse"}[field] + "\n"
    with pytest.raises(ValueError, match=r"must be 1-64 chars"):
        make_stream(**{field: name})
    fields = dict(
        arch="rbn", quality=6, metric="mse", fingerprint=bytes(range(16)), geometry=GEOMETRY,
        latent_shape=(1, 1), strings=STRINGS,
    )  # fmt: skip
    crafted = pack_unchecked(**{**fields, field: name})
    what = {"arch": "architecture", "metric": "metric"}[field]
    with pytest.raises(BitstreamError, match=rf"malformed header: bad {what} b'{name[:-1]}\\n'"):
        unpack(crafted)


def test_read_bitstream_names_missing_files_and_directories(tmp_path) -> None:
    with pytest.raises(BitstreamError, match="nope.rbit: cannot read"):
        read_bitstream(tmp_path / "nope.rbit")
    with pytest.raises(BitstreamError, match="is a directory"):
        read_bitstream(tmp_path)
    with pytest.raises(BitstreamError, match="null: not a regular file"):
        read_bitstream("/dev/null")
    big = tmp_path / "big.bin"
    big.write_bytes(b"GIF89a" + bytes(1 << 20))
    with pytest.raises(BitstreamError, match="big.bin: not an .rbit stream"):
        read_bitstream(big)
    good = tmp_path / "good.rbit"
    good.write_bytes(make_stream())
    assert read_bitstream(good).strings == STRINGS


def test_fingerprint_depends_on_weights_not_on_derived_cdf_tables() -> None:
    from compressai.entropy_models import EntropyBottleneck

    a, b = EntropyBottleneck(4), EntropyBottleneck(4)
    b.load_state_dict(a.state_dict())
    assert weights_fingerprint(a) == weights_fingerprint(b)
    b.update(force=True)  # fills _quantized_cdf / _offset / _cdf_length
    assert weights_fingerprint(a) == weights_fingerprint(b)
    with torch.no_grad():
        b.quantiles[0, 0, 0] += 1e-3
    assert weights_fingerprint(a) != weights_fingerprint(b)
    assert len(weights_fingerprint(a)) == 16


# ---- fuzzing: any mutation is either the original file or a one-line BitstreamError ----------

BASE = make_stream()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(BASE)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        else:
            del data[pos:]
    return bytes(data)


def _parse_or_reject(data: bytes) -> None:
    try:
        bs = unpack(data, "fuzz.rbit")
    except BitstreamError as err:
        message = str(err)
        assert message.startswith("fuzz.rbit: ") and "\n" not in message
        return
    assert bs.header.geometry.crop_height > 0


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fuzz_mutated_files_never_crash_the_parser(data: bytes) -> None:
    _parse_or_reject(data)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fuzz_crafted_files_with_valid_crc_never_crash_the_parser(data: bytes) -> None:
    # A crafted file recomputes the CRC, so the header checks themselves are exercised.
    if len(data) >= 26:
        data = with_fixed_crc(data)
    _parse_or_reject(data)
